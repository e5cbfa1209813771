// Small helpers shared by the media renderers, the recorder and the contact list.

/**
 * `url` if it is one of our /upload/ paths, else null. A message is data from another user:
 * "javascript:", "//elsewhere" or a path escaping /upload/ must never reach a src.
 */
export function uploadUrl(url) {
  return typeof url === 'string' && /^\/upload\/[A-Za-z0-9/_.-]+$/.test(url) && !url.includes('..') ? url : null;
}

/**
 * The src for one of the original Go IM client's stickers (a media 4 URL under its
 * /asset/plugins/doutu/, names in any script; the server checked the file exists), else null.
 */
export function originalStickerUrl(url) {
  if (typeof url !== 'string' || !url.startsWith('/asset/plugins/doutu/')) return null;
  if (url.includes('..') || /[?#\\\s]/.test(url)) return null;
  return encodeURI(url);
}

/** `url` if it is one of our /asset/ paths (sticker images from the catalog), else null. */
export function assetUrl(url) {
  return typeof url === 'string' && /^\/asset\/[A-Za-z0-9/_.-]+$/.test(url) && !url.includes('..') ? url : null;
}

/** The memo JSON string of a media message as an object ({} when absent or broken). */
export function parseMemo(memo) {
  if (memo && typeof memo === 'object') return memo;
  try {
    const value = JSON.parse(memo || '{}');
    return value && typeof value === 'object' ? value : {};
  } catch {
    return {};
  }
}

/** Seconds as m:ss (0:04, 1:30). */
export function formatSeconds(seconds) {
  const s = Math.max(0, Math.round(Number(seconds) || 0));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** Bytes as "5 MB" / "800 KB" for messages about limits. */
export function formatBytes(bytes) {
  if (bytes >= 1024 * 1024) return `${Math.round((bytes / (1024 * 1024)) * 10) / 10} MB`;
  return `${Math.max(1, Math.round(bytes / 1024))} KB`;
}
