// Sign-in: POST /api/v1/session {username, password} → {token, user}.
import { h, clear, field } from '../dom.js';
import { t, getLang } from '../i18n.js';
import { post } from '../api.js';
import { icon } from '../icons.js';
import { errorBox } from '../widgets.js';

export function renderLogin(root, { onLogin, toggleLanguage }) {
  const username = h('input', { id: 'login-username', name: 'username', autocomplete: 'username', required: true, autofocus: true });
  const password = h('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const errors = h('div', { id: 'login-error' });
  const submit = h('button', { type: 'submit', class: 'btn primary block', id: 'login-submit', text: t('login.submit') });

  const form = h('form', {
    class: 'login-form', novalidate: false,
    onsubmit: async (ev) => {
      ev.preventDefault();
      clear(errors);
      submit.disabled = true;
      submit.textContent = t('login.signingIn');
      try {
        const res = await post('/session', { username: username.value.trim(), password: password.value }, { auth: false });
        if (!res?.token) throw new Error('no token in the answer');
        await onLogin(res);
      } catch (err) {
        clear(errors, errorBox(err));
        password.select();
        submit.disabled = false;
        submit.textContent = t('login.submit');
      }
    },
  },
  field(t('login.username'), username),
  field(t('login.password'), password),
  errors,
  submit);

  clear(root, h('div', { class: 'login-page', id: 'login-page' },
    h('div', { class: 'login-card' },
      h('div', { class: 'login-head' },
        h('span', { class: 'brand-mark big', 'aria-hidden': 'true', text: '执' }),
        h('div', {},
          h('h1', { text: t('app.name') }),
          h('p', { class: 'muted', text: t('app.org') }))),
      form,
      h('div', { class: 'login-foot' },
        h('button', {
          type: 'button', class: 'btn ghost', id: 'lang-toggle', lang: getLang() === 'zh-CN' ? 'en' : 'zh-CN',
          'aria-label': t('shell.switchLanguage'), onclick: toggleLanguage,
        }, icon('globe'), h('span', { text: t('shell.otherLanguage') })),
        h('small', { class: 'muted', text: t('login.hint') })))));
  username.focus();
}
