// User id -> nickname and avatar: known from the friend list and ourselves, others asked once
// via /user/find.
import { postData } from './api.js';

export class Names {
  #known = new Map();
  #avatars = new Map();
  #asking = new Map();

  /** Remembers the nicknames (and avatar URLs) of public user objects. */
  learn(users) {
    for (const u of users) {
      if (!u || u.id == null) continue;
      this.#known.set(u.id, u.nickname || `User ${u.id}`);
      if (typeof u.avatar === 'string') this.#avatars.set(u.id, u.avatar);
    }
  }

  /** The avatar URL last learnt for `id` ('' when none or not known). */
  avatar(id) {
    return this.#avatars.get(id) ?? '';
  }

  /** The name to show now (a placeholder until resolve() has answered). */
  get(id) {
    return this.#known.get(id) ?? `User ${id}`;
  }

  has(id) {
    return this.#known.has(id);
  }

  /** Looks an unknown id up once; resolves to the nickname, or null if the lookup failed. */
  resolve(id) {
    if (this.#known.has(id)) return Promise.resolve(this.#known.get(id));
    if (!this.#asking.has(id)) {
      const ask = postData('/user/find', { id })
        .then((user) => {
          this.learn([user]);
          return this.get(id);
        })
        .catch(() => null) // keep the placeholder; a later message may ask again
        .finally(() => this.#asking.delete(id));
      this.#asking.set(id, ask);
    }
    return this.#asking.get(id);
  }
}
