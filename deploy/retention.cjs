'use strict';

/**
 * Days after which the upload bucket's lifecycle rule expires uploads and noncurrent versions:
 * param keepUploadsHours rounded up to whole days (S3's lifecycle counts days), and 1 day, the
 * least S3 allows, when uploads are deleted once checked (keepUploadsHours 0): the rule is then
 * the backstop for anything the upload path missed.
 */
module.exports.uploadDays = async ({ resolveVariable }) => {
  const raw = String(await resolveVariable('param:keepUploadsHours')).trim();
  const hours = Number(raw);
  if (raw === '' || !Number.isSafeInteger(hours) || hours < 0) throw new Error(`param keepUploadsHours must be a whole number of hours, got "${raw}"`);
  return Math.max(1, Math.ceil(hours / 24));
};
