/** PredictStream's per-call options, sent by the client and read by the server as request headers. */
export const POLICY_HEADER = 'x-stream-policy';
export const MAX_IN_FLIGHT_HEADER = 'x-max-in-flight';
