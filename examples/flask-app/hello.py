"""The example app that .github/workflows/deploy.yml builds and deploys with deployer.

Run it locally with `flask --app hello run --port 5000`; in the container gunicorn serves it
(see Dockerfile). The load balancer's health check asks for `/` (health_check.path in
envs/dev.toml) and expects a 200.
"""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def index():
    text = "Hello from simhill, running on ECS Fargate behind an ALB.\n"
    return text, 200, {"Content-Type": "text/plain; charset=utf-8"}


@app.get("/health")
def health():
    return {"status": "ok"}
