// Login page: mobile + password.
import { bindAuthForm, field } from './auth.js';
import { byId } from './dom.js';

bindAuthForm(byId('login-form'), '/user/login', (data) => ({
  mobile: field(data, 'mobile'),
  passwd: String(data.get('passwd') ?? ''), // passwords are sent exactly as typed
}));
