"""The baseline: a bare FastAPI app answering a small JSON object, served like the service."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/hello")
async def hello() -> dict[str, str]:
    return {"status": "ok"}
