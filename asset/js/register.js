// Register page: mobile, nickname, password, an optional sex (M/W/U) and, on a server where
// joining takes an invitation, the sign-up code from the link (/register.html?invite=CODE).
import { bindAuthForm, field } from './auth.js';
import { byId } from './dom.js';

const invite = new URLSearchParams(location.search).get('invite');
if (invite) {
  byId('invite').value = invite;
  byId('invite-field').hidden = false;
}

bindAuthForm(byId('register-form'), '/user/register', (data) => {
  const body = {
    mobile: field(data, 'mobile'),
    nickname: field(data, 'nickname'),
    passwd: String(data.get('passwd') ?? ''),
  };
  const sex = field(data, 'sex');
  if (sex) body.sex = sex; // left out: the server's default applies
  const code = field(data, 'invite');
  if (code) body.invite = code;
  return body;
});
