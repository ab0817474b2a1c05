"""A classroom on one link: N concurrent gradio_client users on the app's generate endpoints.

    python benchmarks/bench_load.py                       # 30 users on /stylegan_generate + /vae_decode, 40 s
    python benchmarks/bench_load.py --endpoints all --seconds 180 --train
                                                          # every tab's generate endpoint while a training runs

The app runs as its own process (``python app.py``, loopback only) so its memory is its own; each user is a
thread with its own ``gradio_client.Client`` (its own session) in a closed loop: call, wait for the answer,
``--think`` seconds, call again, until the time is up (a bounded loop: nothing runs past ``--seconds``).
Each call varies its seed. ``--train`` starts a VAE training through ``/train_vae`` first (the teacher's
demo), cancels it at the end and deletes its folder.

Prints requests, errors, p50 / p95 / max latency per endpoint and the app's resident memory (start, peak, end).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRAIN_RUN = "bench-load-training"


def _image_file() -> str:
    from PIL import Image

    path = Path(tempfile.gettempdir()) / "genlab-bench-load.png"
    if not path.exists():
        Image.new("RGB", (64, 64), (200, 120, 80)).save(path)
    return str(path)


def requests_for(endpoint: str, rng: random.Random) -> dict:
    """Keyword arguments of one user request to ``endpoint`` (defaults, with a fresh seed)."""
    from gradio_client import handle_file

    seed = rng.randrange(10_000)
    return {
        "/vae_decode": lambda: {"latent": ", ".join(f"{rng.uniform(-2, 2):.2f}" for _ in range(16))},
        "/stylegan_generate": lambda: {"seed": seed},
        "/stylegan_mix": lambda: {"seed_a": seed, "seed_b": seed + 1},
        "/gan_generate": lambda: {"seed": seed},
        "/pix2pix": lambda: {"image": handle_file(_image_file())},
        "/cyclegan": lambda: {"image": handle_file(_image_file())},
        "/diffusion_sample": lambda: {"seed": seed, "steps": 20},
        "/text_to_image": lambda: {"seed": seed},
        "/lora_generate": lambda: {"seed": seed},
    }[endpoint]()


ENDPOINT_SETS = {
    "classroom": ["/stylegan_generate", "/vae_decode"],
    "all": ["/stylegan_generate", "/vae_decode", "/stylegan_mix", "/gan_generate", "/pix2pix", "/cyclegan",
            "/diffusion_sample", "/text_to_image", "/lora_generate"],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (s)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_app(port: int, extra: list[str]) -> subprocess.Popen:
    env = os.environ | {"GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"}
    log = open(Path(tempfile.gettempdir()) / "genlab-bench-load-app.log", "w")
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port), *extra], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the app exited during start-up (see {log.name})")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("the app did not start within 120 s")


class HttpUser:
    """What a browser does, and no more: one session; upload the image once; per request POST
    ``/gradio_api/queue/join``, read the session's event stream to the result, and download the image it returns.
    About a twentieth of gradio_client's CPU per request, which matters when the simulated class shares the
    server's cores."""

    def __init__(self, url: str, parameters: dict):
        import uuid

        import httpx

        self.url, self.parameters = url.rstrip("/"), parameters
        # uvicorn closes a connection idle for 5 s; reusing one it just closed fails (browsers retry, httpx does not)
        self.http = httpx.Client(timeout=300, limits=httpx.Limits(keepalive_expiry=2.0))
        self.session_hash = uuid.uuid4().hex[:11]
        self.uploads: dict[str, dict] = {}

    def _file(self, path: str) -> dict:
        if path not in self.uploads:
            with open(path, "rb") as f:
                server_path = self.http.post(f"{self.url}/gradio_api/upload", files={"files": f}).json()[0]
            self.uploads[path] = {"path": server_path, "meta": {"_type": "gradio.FileData"}}
        return self.uploads[path]

    def predict(self, api_name: str, **kwargs):
        import json

        fn_index, names = self.parameters[api_name]
        data = []
        for name, default in names:
            value = kwargs.get(name, default)
            data.append(self._file(value["path"]) if isinstance(value, dict) and "path" in value else value)
        body = {"data": data, "fn_index": fn_index, "session_hash": self.session_hash, "event_data": None,
                "trigger_id": None}
        event_id = self.http.post(f"{self.url}/gradio_api/queue/join", json=body).raise_for_status().json()["event_id"]
        with self.http.stream("GET", f"{self.url}/gradio_api/queue/data",
                              params={"session_hash": self.session_hash}) as stream:
            for line in stream.iter_lines():
                if not line.startswith("data:"):
                    continue
                message = json.loads(line[5:])
                if message.get("event_id") != event_id or message.get("msg") != "process_completed":
                    continue
                if not message.get("success"):
                    raise RuntimeError((message.get("output") or {}).get("error") or "failed")
                for item in message["output"]["data"]:
                    if isinstance(item, dict) and item.get("url"):
                        self.http.get(item["url"]).raise_for_status()  # the browser fetches the image
                return message["output"]["data"]
        raise RuntimeError("the event stream ended without a result")


def api_parameters(url: str) -> dict:
    """``{"/endpoint": (fn_index, [(parameter name, default), ...])}`` from the app's config and API description."""
    import httpx

    base = url.rstrip("/")
    info = httpx.get(f"{base}/gradio_api/info", timeout=60).json()["named_endpoints"]
    config = httpx.get(f"{base}/config", timeout=60).json()
    index = {f"/{d['api_name']}": d["id"] for d in config["dependencies"] if d.get("api_name")}
    return {name: (index[name], [(p["parameter_name"], p.get("parameter_default")) for p in ep["parameters"]])
            for name, ep in info.items()}


def user(url: str, endpoints: list[str], index: int, stop_at: float, think: float, results: list, lock,
         client_kind: str = "http", parameters: dict | None = None) -> None:
    """One student: a closed loop of requests on its endpoint until ``stop_at``."""
    rng = random.Random(index)
    endpoint = endpoints[index % len(endpoints)]
    if client_kind == "gradio_client":
        from gradio_client import Client

        client = Client(url, verbose=False)
    else:
        client = HttpUser(url, parameters)
    while time.time() < stop_at:
        t0 = time.perf_counter()
        error = None
        try:
            client.predict(api_name=endpoint, **requests_for(endpoint, rng))
        except Exception as exc:  # any failure counts; the message is kept for the table
            error = f"{type(exc).__name__}: {str(exc)[:80]}"
        with lock:
            results.append((endpoint, time.perf_counter() - t0, error))
        if think:
            time.sleep(rng.uniform(0.5, 1.5) * think)


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=40)
    parser.add_argument("--endpoints", default="classroom",
                        help="'classroom' (/stylegan_generate, /vae_decode), 'all', or a comma-separated list")
    parser.add_argument("--think", type=float, default=0.0, help="mean pause between a user's requests (s)")
    parser.add_argument("--train", action="store_true", help="run a VAE training in the app meanwhile")
    parser.add_argument("--client", choices=["http", "gradio_client"], default="http",
                        help="how each simulated user calls: plain HTTP as a browser does (default), or gradio_client "
                             "(which costs the shared cores about 150 ms of CPU per call)")
    parser.add_argument("--app-args", default="", help="extra arguments for app.py, e.g. '--threads 2'")
    args = parser.parse_args(argv)
    endpoints = ENDPOINT_SETS.get(args.endpoints) or [e if e.startswith("/") else f"/{e}"
                                                       for e in args.endpoints.split(",")]
    from gradio_client import Client

    port = free_port()
    app = start_app(port, args.app_args.split())
    url = f"http://127.0.0.1:{port}/"
    memory = [rss_mib(app.pid)]
    try:
        admin = Client(url, verbose=False)
        for endpoint in endpoints:  # warm each model once (the first call loads it), untimed
            admin.predict(api_name=endpoint, **requests_for(endpoint, random.Random(0)))
        memory.append(rss_mib(app.pid))
        training = None
        if args.train:
            training = admin.submit(api_name="/train_vae", run_name=TRAIN_RUN, dataset="faces", latent_dim=16,
                                    likelihood="gaussian", steps=100_000, batch_size=64)
            time.sleep(5)
        results: list = []
        lock = threading.Lock()
        stop_at = time.time() + args.seconds
        cpu_app, cpu_users = cpu_seconds(app.pid), time.process_time()
        parameters = api_parameters(url)
        threads = [threading.Thread(target=user, args=(url, endpoints, i, stop_at, args.think, results, lock,
                                                       args.client, parameters), daemon=True)
                   for i in range(args.users)]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            memory.append(rss_mib(app.pid))
            time.sleep(0.5)
        alive = app.poll() is None
        cpu_app, cpu_users = cpu_seconds(app.pid) - cpu_app, time.process_time() - cpu_users
        if training is not None:
            admin.predict(api_name="/cancel_vae")
            training_status = training.status().code.name if alive else "app gone"
            time.sleep(3)
    finally:
        app.terminate()
        app.wait(timeout=30)
        shutil.rmtree(ROOT / "checkpoints" / "vae" / TRAIN_RUN, ignore_errors=True)

    print(f"{args.users} users ({args.client}), closed loop, think {args.think:g} s, {args.seconds:g} s"
          + (f", a VAE training running in the app ({training_status})" if args.train else "")
          + f"; app alive at the end: {'yes' if alive else '**no**'}\n")
    print("| endpoint | users | requests | errors | p50 (s) | p95 (s) | max (s) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for endpoint in endpoints:
        times = [t for e, t, err in results if e == endpoint and err is None]
        errors = [err for e, t, err in results if e == endpoint and err is not None]
        users = sum(1 for i in range(args.users) if endpoints[i % len(endpoints)] == endpoint)
        row = (f"{percentile(times, 0.5):.2f} | {percentile(times, 0.95):.2f} | {max(times):.2f}" if times
               else "- | - | -")
        print(f"| {endpoint} | {users} | {len(times) + len(errors)} | {len(errors)} | {row} |")
        for message in sorted(set(errors))[:3]:
            print(f"|  error: {message} |")
    print(f"\napp memory (RSS): {memory[0]:.0f} MiB at start, {memory[1]:.0f} MiB with the models loaded, "
          f"peak {max(memory):.0f} MiB, {memory[-1]:.0f} MiB at the end")
    total = sum(1 for e, t, err in results if err is None)
    per = max(total, 1)
    print(f"throughput: {total / args.seconds:.1f} requests/s; CPU per request: app {1000 * cpu_app / per:.0f} ms, "
          f"the {args.users} simulated users {1000 * cpu_users / max(total, 1):.0f} ms ({os.cpu_count()} cores shared)")
    return 0 if alive else 1


if __name__ == "__main__":
    sys.exit(main())
