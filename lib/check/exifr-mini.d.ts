/**
 * exifr's smallest build, which lib/check/decode.ts loads instead of the package root: the JPEG
 * parser and the EXIF segment only (29 KB where the full build is 73 KB), what reading a selfie's
 * orientation needs. The package's types describe the same function under its root.
 */
declare module 'exifr/dist/mini.esm.mjs' {
  export { orientation } from 'exifr';
}
