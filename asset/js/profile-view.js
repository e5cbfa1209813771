// Showing users' pictures: an avatar <img> over the initial-letter circle (the initial stays
// underneath, and comes back if the picture fails to load).
import { el } from './dom.js';
import { assetUrl, uploadUrl } from './media-util.js';

/**
 * Adds `picture` (an /upload/ URL of ours, or an /asset/ one: the original client's built-in
 * avatars and group icons; else ignored) to the avatar element; returns it.
 */
export function withPicture(avatar, picture) {
  const src = uploadUrl(picture) || assetUrl(picture);
  if (!src) return avatar;
  const img = el('img', { class: 'avatar-img', src, alt: '', loading: 'lazy', decoding: 'async' });
  img.addEventListener('error', () => img.remove());
  avatar.classList.add('has-picture');
  avatar.append(img);
  return avatar;
}
