/** Why the page fell back to the file input. */
export type CameraProblem = 'denied' | 'unavailable';

export class CameraUnavailable extends Error {
  override readonly name = 'CameraUnavailable';
  readonly problem: CameraProblem;

  constructor(problem: CameraProblem) {
    super(`camera ${problem}`);
    this.problem = problem;
  }
}

/**
 * The front camera, or the one the user picked. Asks for a modest resolution: enough for a face,
 * and what older phones can deliver without renegotiating.
 */
export async function openCamera(deviceId?: string): Promise<MediaStream> {
  if (navigator.mediaDevices?.getUserMedia === undefined) throw new CameraUnavailable('unavailable');
  const video: MediaTrackConstraints = deviceId === undefined
    ? { facingMode: 'user', width: { ideal: 1280 }, height: { ideal: 960 } }
    : { deviceId: { exact: deviceId }, width: { ideal: 1280 }, height: { ideal: 960 } };
  try {
    return await navigator.mediaDevices.getUserMedia({ video, audio: false });
  } catch (error) {
    const name = error instanceof Error ? error.name : '';
    throw new CameraUnavailable(name === 'NotAllowedError' || name === 'SecurityError' ? 'denied' : 'unavailable');
  }
}

export interface CameraChoice {
  deviceId: string;
  label: string;
}

/** The cameras the browser lists (with labels once access was granted). */
export async function listCameras(): Promise<CameraChoice[]> {
  const devices = await navigator.mediaDevices.enumerateDevices();
  return devices.filter((device) => device.kind === 'videoinput' && device.deviceId !== '').map((device) => ({ deviceId: device.deviceId, label: device.label }));
}

/** Whether the stream comes from a camera facing the user (shown mirrored); unknown counts as yes. */
export function facesUser(stream: MediaStream): boolean {
  const facing = stream.getVideoTracks()[0]?.getSettings().facingMode;
  return facing === undefined || facing === 'user';
}

export function stopCamera(stream: MediaStream | undefined): void {
  for (const track of stream?.getTracks() ?? []) track.stop();
}
