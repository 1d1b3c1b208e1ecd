"""An outside client for `npm run bench`: Python's grpcio (gRPC's C core), not our TypeScript client.

Sends one already-encoded modelhub.v1.PredictRequest (the bench writes it with the generated encoder) to
ModelService/Predict over and over, one call at a time, and prints one line of JSON: each call's latency in ms.
It needs no generated Python code: the request goes as bytes and the answer is only checked to be a reply.

    python3 scripts/bench-python-client.py 127.0.0.1:50051 request.bin 40

Needs grpcio: Debian's python3-grpcio (`apt-get install python3-grpcio`, then /usr/bin/python3). `npm run bench`
runs it when a Python it finds can import grpc and says so when none can.
"""

import json
import sys
import time

import grpc

WARM_UP_CALLS = 5


def main() -> None:
    target, request_path, calls = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(request_path, "rb") as f:
        request = f.read()
    with grpc.insecure_channel(target) as channel:
        # No serializers: the request is already protobuf bytes, and the reply is kept as bytes.
        predict = channel.unary_unary("/modelhub.v1.ModelService/Predict")
        for _ in range(WARM_UP_CALLS):
            predict(request)
        latencies = []
        for _ in range(calls):
            started = time.perf_counter()
            reply = predict(request)
            latencies.append((time.perf_counter() - started) * 1000)
            if not reply:
                raise SystemExit("empty reply")
    print(json.dumps({"grpcio": grpc.__version__, "latencies_ms": latencies}))


if __name__ == "__main__":
    main()
