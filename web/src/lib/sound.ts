// Notification sounds with the Web Audio API (docs/ui.md). Never throws: browsers without audio,
// or that block it until the user interacts with the page, simply stay silent.

type AudioContextCtor = new () => AudioContext;
let context: AudioContext | null = null;

function audio(): AudioContext | null {
  try {
    if (!context) {
      const w = window as unknown as { AudioContext?: AudioContextCtor; webkitAudioContext?: AudioContextCtor };
      const Ctor = w.AudioContext ?? w.webkitAudioContext;
      if (!Ctor) return null;
      context = new Ctor();
    }
    if (context.state === "suspended") void context.resume().catch(() => undefined);
    return context;
  } catch {
    return null;
  }
}

function tone(ctx: AudioContext, frequency: number, start: number, duration: number, volume = 0.15): void {
  const oscillator = ctx.createOscillator();
  const gain = ctx.createGain();
  oscillator.type = "sine";
  oscillator.frequency.value = frequency;
  gain.gain.setValueAtTime(0, start);
  gain.gain.linearRampToValueAtTime(volume, start + 0.01);
  gain.gain.setValueAtTime(volume, start + duration - 0.03);
  gain.gain.linearRampToValueAtTime(0, start + duration);
  oscillator.connect(gain).connect(ctx.destination);
  oscillator.start(start);
  oscillator.stop(start + duration + 0.02);
}

/** New approval: C5 then E5. */
export function playChime(): void {
  try {
    const ctx = audio();
    if (!ctx) return;
    const now = ctx.currentTime;
    tone(ctx, 523.25, now, 0.15);
    tone(ctx, 659.25, now + 0.16, 0.22);
  } catch {
    // no sound
  }
}

/** Error: three 880 Hz beeps of 150 ms. */
export function playErrorSound(): void {
  try {
    const ctx = audio();
    if (!ctx) return;
    const now = ctx.currentTime;
    for (let i = 0; i < 3; i += 1) tone(ctx, 880, now + i * 0.25, 0.15, 0.12);
  } catch {
    // no sound
  }
}
