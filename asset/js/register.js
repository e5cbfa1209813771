// Register page: mobile, nickname, password and an optional sex (M/W/U).
import { bindAuthForm, field } from './auth.js';
import { byId } from './dom.js';

bindAuthForm(byId('register-form'), '/user/register', (data) => {
  const body = {
    mobile: field(data, 'mobile'),
    nickname: field(data, 'nickname'),
    passwd: String(data.get('passwd') ?? ''),
  };
  const sex = field(data, 'sex');
  if (sex) body.sex = sex; // left out: the server's default applies
  return body;
});
