/**
 * Draws the bundled sample images (CC0, our own work; see contrib_src/license/sample_data). Run once with
 * `npx tsx scripts/make-samples.ts`; the outputs are committed. Kept so the samples can be regenerated or changed.
 */
import sharp from 'sharp';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const out = join(import.meta.dirname, '..', 'contrib_src');
mkdirSync(join(out, 'sample_data'), { recursive: true });

const scenes: Record<string, { width: number; height: number; svg: string; format: 'png' | 'jpeg' }> = {
  'orange.jpg': {
    width: 400,
    height: 300,
    format: 'jpeg',
    svg: `<rect width="400" height="300" fill="#e9e4d8"/>
      <circle cx="200" cy="160" r="110" fill="#f08a1c"/><circle cx="170" cy="120" r="30" fill="#f7b15a" opacity="0.6"/>
      <path d="M200 50 q20 -30 50 -20 q-20 25 -50 20z" fill="#3a7d2c"/>`,
  },
  'checkerboard.png': {
    width: 320,
    height: 320,
    format: 'png',
    svg: `<defs><pattern id="c" width="80" height="80" patternUnits="userSpaceOnUse">
      <rect width="40" height="40" fill="#111"/><rect x="40" y="40" width="40" height="40" fill="#111"/></pattern></defs>
      <rect width="320" height="320" fill="#f4f4f4"/><rect width="320" height="320" fill="url(#c)"/>`,
  },
  'sunset.jpg': {
    width: 480,
    height: 320,
    format: 'jpeg',
    svg: `<defs><linearGradient id="s" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#1b2a6b"/>
      <stop offset="0.6" stop-color="#f26b38"/><stop offset="1" stop-color="#f9d976"/></linearGradient></defs>
      <rect width="480" height="320" fill="url(#s)"/><circle cx="240" cy="250" r="60" fill="#ffe08a"/>
      <rect y="260" width="480" height="60" fill="#0d3b66"/>`,
  },
  'traffic-light.png': {
    width: 240,
    height: 360,
    format: 'png',
    svg: `<rect width="240" height="360" fill="#9cc9e8"/><rect x="80" y="40" width="80" height="220" rx="14" fill="#222"/>
      <circle cx="120" cy="85" r="26" fill="#e0301e"/><circle cx="120" cy="150" r="26" fill="#5a4a12"/>
      <circle cx="120" cy="215" r="26" fill="#1f4d2a"/><rect x="112" y="260" width="16" height="100" fill="#444"/>`,
  },
};

for (const [name, scene] of Object.entries(scenes)) {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${scene.width}" height="${scene.height}">${scene.svg}</svg>`;
  const image = sharp(Buffer.from(svg));
  await (scene.format === 'png' ? image.png() : image.jpeg({ quality: 90 })).toFile(join(out, 'sample_data', name));
}
await sharp(join(out, 'sample_data', 'orange.jpg'))
  .resize(128, 128, { fit: 'cover' })
  .jpeg({ quality: 85 })
  .toFile(join(out, 'model', 'thumbnail.jpg'));
console.log('samples written to', join(out, 'sample_data'));
