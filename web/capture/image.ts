/** Formats the bucket accepts for a session's image. */
export const UPLOAD_TYPES: readonly string[] = ['image/jpeg', 'image/png', 'image/webp'];

/** The longest edge of a captured frame: plenty for a face, small enough to upload fast on mobile. */
const CAPTURE_EDGE = 1280;

/** Smaller and smaller re-encodings tried when a photo is over the size limit. */
const REDUCTIONS: ReadonlyArray<[edge: number, quality: number]> = [
  [2048, 0.9],
  [1600, 0.85],
  [1280, 0.8],
  [960, 0.75],
  [640, 0.7],
];

/** Draws `source` (width × height) scaled to fit `maxEdge`, as a JPEG. */
function toJpeg(source: CanvasImageSource, width: number, height: number, maxEdge: number, quality: number): Promise<Blob> {
  const scale = Math.min(1, maxEdge / Math.max(width, height));
  const canvas = document.createElement('canvas');
  canvas.width = Math.round(width * scale);
  canvas.height = Math.round(height * scale);
  const context = canvas.getContext('2d');
  if (context === null) return Promise.reject(new Error('no 2D canvas'));
  context.drawImage(source, 0, 0, canvas.width, canvas.height);
  return new Promise((resolve, reject) => {
    canvas.toBlob((blob) => (blob === null ? reject(new Error('the frame could not be encoded')) : resolve(blob)), 'image/jpeg', quality);
  });
}

/** The frame the video shows now, as a JPEG (not mirrored). */
export function captureFrame(video: HTMLVideoElement): Promise<Blob> {
  return toJpeg(video, video.videoWidth, video.videoHeight, CAPTURE_EDGE, 0.92);
}

/**
 * The image to upload: `image` itself when the bucket accepts its type and size, else a JPEG
 * re-encoding small enough; undefined when the browser cannot decode it or no reduction fits.
 */
export async function fitForUpload(image: Blob, maxBytes: number): Promise<Blob | undefined> {
  if (UPLOAD_TYPES.includes(image.type) && image.size > 0 && image.size <= maxBytes) return image;
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(image);
  } catch {
    return undefined;
  }
  try {
    for (const [edge, quality] of REDUCTIONS) {
      const reduced = await toJpeg(bitmap, bitmap.width, bitmap.height, edge, quality);
      if (reduced.size <= maxBytes) return reduced;
    }
    return undefined;
  } finally {
    bitmap.close();
  }
}
