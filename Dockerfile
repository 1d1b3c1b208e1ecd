# syntax=docker/dockerfile:1
# The xception gRPC server as an image: a build stage that compiles the TypeScript, a slim runtime stage with only what
# the server runs (dist/, proto/, contrib_src/, production node_modules/, package.json), as the non-root user `node`.
#
#   docker build -t xception:0.1.0 .
#   docker run --rm --init -p 50051:50051 -p 9090:9090 xception:0.1.0
#
# Weights: none are baked in (contrib_src/model/model.h5 is kept out by .dockerignore). Mount them
# (-v $PWD/model.h5:/app/contrib_src/model/model.h5:ro), fetch them in an init container (deploy/deployment.yaml), or
# fetch them at start:
#   docker run … xception:0.1.0 sh -c 'node dist/cli/main.js fetch-weights && exec node dist/server/main.js --require-pretrained'

ARG NODE_IMAGE=node:22-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# onnxruntime-node's CPU library ships in the package; its install script would download optional CUDA binaries.
# package.json's allowScripts denies that script (npm ≥ 11.16); the variable skips the download for older npm.
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json ./
COPY tsconfig.json buf.yaml buf.gen.yaml ./
COPY proto ./proto
COPY src ./src
COPY scripts/build-wasm.mjs ./scripts/build-wasm.mjs
# npm ci installs the lockfile exactly; its `prepare` script is `npm run build` (buf generate, the WebAssembly kernels,
# tsc → dist/), which is why the sources and the build script are copied first.
RUN --mount=type=cache,target=/root/.npm npm ci
# Fail the build here rather than at start-up if an entry point is missing.
RUN test -f dist/server/main.js && test -f dist/cli/main.js
RUN npm prune --omit=dev
# @tensorflow/tfjs-node (optional; downloads libtensorflow, ~400 MB) is dropped unless asked for: the default engine is
# onnx, and the tfjs engine runs on TensorFlow.js' WASM backend without it.
ARG WITH_TFJS_NODE=false
RUN if [ "$WITH_TFJS_NODE" != "true" ]; then rm -rf node_modules/@tensorflow/tfjs-node; fi

FROM ${NODE_IMAGE} AS runtime
# onnxruntime-node ≥ 1.29 sends usage telemetry from Linux and writes a device id under $HOME: ORT_DISABLE_TELEMETRY
# opts out. Metrics are on in the image (the server's own default is off), on the port EXPOSEd below.
ENV NODE_ENV=production \
    ORT_DISABLE_TELEMETRY=1 \
    XCEPTION_METRICS_PORT=9090
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/proto ./proto
COPY contrib_src ./contrib_src
# Files stay root-owned (read-only to the server); only the weights folder is writable, for `fetch-weights` at start.
RUN chown node:node contrib_src/model
USER node
# gRPC (XCEPTION_PORT) and Prometheus metrics (XCEPTION_METRICS_PORT).
EXPOSE 50051 9090
# For docker and compose only (Kubernetes uses its own gRPC probes). Plaintext: with --tls-cert, override or disable it.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
  CMD node dist/cli/main.js health --address "127.0.0.1:${XCEPTION_PORT:-50051}" --deadline 5000 || exit 1
CMD ["node", "dist/server/main.js"]
