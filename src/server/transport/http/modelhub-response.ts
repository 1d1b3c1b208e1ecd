/** A Prediction in the JSON shape ModelHub's engine answers /api/predict with. */
import type { Prediction } from '../../core/model-service.js';

export interface ModelHubPrediction {
  output: {
    prediction: { label: string; probability: number }[];
    shape: number[];
    type: string;
    name: string;
    description: string;
  }[];
  /** Python's "%Y-%m-%d-%H-%M-%S-%f", in UTC. */
  timestamp: string;
  /** Seconds. */
  processing_time: number;
  model: { id: string; name: string };
}

export function toModelHubPrediction(prediction: Prediction): ModelHubPrediction {
  return {
    output: prediction.outputs.map((output) => ({
      prediction: output.prediction.map(({ label, probability }) => ({ label, probability })),
      shape: output.shape,
      type: output.type,
      name: output.name,
      description: output.description,
    })),
    timestamp: formatTimestamp(prediction.timestamp),
    processing_time: Math.round(prediction.processingTime * 1e6) / 1e6,
    model: { id: prediction.model.id, name: prediction.model.name },
  };
}

/** strftime's "%Y-%m-%d-%H-%M-%S-%f" in UTC; a Date has milliseconds, so the last three of six digits are 0. */
export function formatTimestamp(date: Date): string {
  const pad = (value: number, width = 2) => String(value).padStart(width, '0');
  return [
    pad(date.getUTCFullYear(), 4),
    pad(date.getUTCMonth() + 1),
    pad(date.getUTCDate()),
    pad(date.getUTCHours()),
    pad(date.getUTCMinutes()),
    pad(date.getUTCSeconds()),
    pad(date.getUTCMilliseconds() * 1000, 6),
  ].join('-');
}
