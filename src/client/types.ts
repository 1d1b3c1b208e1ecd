/** The client's public types: what goes in (images, frames, options) and what comes out (predictions). */
import type { Metadata } from '../gen/modelhub/v1/model_service.js';

export type { DimLimit, OutputSpec, Runtime } from '../gen/modelhub/v1/model_service.js';

/** The model and the server running it, as GetMetadata returns it. */
export type ModelMetadata = Metadata;

/** Channel layouts of uncompressed pixels. */
export type PixelFormatName = 'RGB8' | 'RGBA8' | 'GRAY8' | 'BGR8';

/** Uncompressed pixels: row-major, tightly packed, 8 bits per channel (a decoded video frame, a canvas). */
export interface RawImage {
  readonly width: number;
  readonly height: number;
  readonly format: PixelFormatName;
  /** width × height × channels(format) bytes. */
  readonly data: Uint8Array;
}

/** An encoded image file's bytes (PNG, JPEG, … as Metadata.inputFormats lists), or raw pixels. */
export type ImageInput = Uint8Array | RawImage;

/** One frame of a stream: an image, or an image with the caller's id (otherwise its sequence number, from "0"). */
export type Frame = ImageInput | { readonly id?: string; readonly image: ImageInput };

/** When a call must be over: an absolute time, or milliseconds from the call's start. */
export type Deadline = Date | number;

export interface CallOptions {
  /** Overrides the client's `deadlineMs` for this call. */
  readonly deadline?: Deadline;
  /** Cancels the call; it then fails with ModelError CANCELLED. */
  readonly signal?: AbortSignal;
  /** Overrides the client's `waitForReady` for this call. */
  readonly waitForReady?: boolean;
}

export interface PredictOptions extends CallOptions {
  /** Labels to return, most probable first; 0 or absent: the model's default (Metadata.top). */
  readonly topK?: number;
  /** Echoed in the result and logged by the server; a random UUID by default. */
  readonly id?: string;
}

export type StreamPolicy = 'all' | 'latest';

export interface PredictStreamOptions {
  /** Labels per frame, as in PredictOptions. */
  readonly topK?: number;
  /**
   * "all" (default) answers every frame. "latest" is for live video: the server drops frames that went stale while
   * waiting for the engine and answers them with error ABORTED, so latency stays near one inference.
   */
  readonly policy?: StreamPolicy;
  /**
   * Frames sent but not yet taken by the consumer (default 4). The client pulls no further frames from the source
   * past this; the server also caps frames in flight at this (or its own --stream-max-in-flight, if lower).
   */
  readonly maxInFlight?: number;
  /** Cancels the stream; iteration then throws ModelError CANCELLED. */
  readonly signal?: AbortSignal;
  /** A deadline for the whole stream (none by default: the client's `deadlineMs` does not apply to streams). */
  readonly deadline?: Deadline;
  readonly waitForReady?: boolean;
}

/** One class with its probability. */
export interface LabelProbability {
  readonly label: string;
  /** Softmax probability in [0, 1]. */
  readonly probability: number;
  /** Class index (the key in labels.json). */
  readonly index: number;
}

export interface ModelRef {
  readonly id: string;
  readonly name: string;
}

/** The model's answer for one image. */
export interface Prediction {
  /** The request's id. */
  readonly id: string;
  /** Most probable first; topK of them. */
  readonly labels: readonly LabelProbability[];
  /** Seconds the server spent on the request (decode, queue and inference). */
  readonly processingTime: number;
  /** When the server produced the answer. */
  readonly timestamp: Date | undefined;
  readonly model: ModelRef | undefined;
  /** The replica that answered (its x-instance header). */
  readonly instance: string;
}

/** Why one frame of a stream has no prediction: bad input, dropped as stale ("latest" policy, ABORTED), deadline… */
export interface FrameError {
  /** gRPC status code number. */
  readonly code: number;
  readonly codeName: string;
  readonly message: string;
}

/** A stream's answer for one frame: a prediction, or an error for that frame alone (the stream goes on). */
export type FrameResult =
  | (Prediction & { readonly error?: undefined })
  | {
      readonly id: string;
      readonly error: FrameError;
      readonly timestamp: Date | undefined;
      readonly model: ModelRef | undefined;
      readonly instance: string;
    };

/** gRPC health-checking status of the server (or of one of its services). */
export type HealthStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';
