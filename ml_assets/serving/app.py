"""The HTTP layer: FastAPI routes over a ``PredictionService``, errors mapped to status codes.

422 lists every broken rule (record index, field, rule, value rendered JSON-safe, so a NaN sent
cannot turn the answer into a 500); 413 says which limit a request
exceeded; 503 says why no champion is serving. OpenAPI docs are at ``/docs``.
"""

import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from typing import Annotated, Any

from fastapi import Body, FastAPI, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ml_assets.lib.core.json_text import dumps, loads
from ml_assets.serving.records import RecordsRejected, example_record, json_safe
from ml_assets.serving.service import (
    BadKeys,
    LogUnavailable,
    NoModel,
    PredictionService,
    TooManyRecords,
    request_keys,
)

MAX_LISTED_ERRORS = 100
KEY_HEADER = "X-Request-Key"


class Prediction(BaseModel):
    """One record's prediction."""

    request_key: str = Field(description="The key that routed it and that the log holds.")
    arm: str = Field(description="champion or challenger")
    model_version: str = Field(description="The registry version that predicted it.")
    prediction: Any = Field(description="The predicted label (or number, for regression).")
    probability: float | None = Field(
        description="Probability of the positive class (binary tasks), else null."
    )
    probabilities: dict[str, float] | None = Field(
        description="Probability of each class (classification), else null."
    )
    interval: list[float] | None = Field(
        description="[lower, upper] holding the true value at the model's coverage "
        "(regression, split conformal), else null."
    )
    prediction_set: list[Any] | None = Field(
        description="The classes that stay plausible at the model's coverage (classification, "
        "split conformal; empty when no class is credible at that coverage), else null."
    )


class PredictResponse(BaseModel):
    """The predictions, in the order of the records, and the versions serving each arm."""

    predictions: list[Prediction]
    versions: dict[str, str | None]


class RecordFailure(BaseModel):
    """One broken rule of one record (or of the request's shape: record null)."""

    record: int | None = Field(description="0-based index of the record in the request")
    field: str
    rule: str
    value: Any = Field(description="The value sent")
    msg: str


class RecordsRejectedResponse(BaseModel):
    """Every broken rule (the first 100), and how many there were."""

    detail: list[RecordFailure]
    error_count: int


class PredictRequest(BaseModel):
    """Records to score, each a JSON object of the contract's fields (the target ignored)."""

    records: list[dict[str, Any]] = Field(
        min_length=1, description="The records; a missing field is a null."
    )
    keys: list[str] | None = Field(
        default=None,
        description=f"One key per record for canary routing and the log; else the {KEY_HEADER} "
        "header (<key>:<i> past one record), else a random key.",
    )


class Problem(BaseModel):
    """A refused request: what was wrong and what to do."""

    detail: str


class BodyLimit:
    """Refuse a request body over ``max_bytes`` with 413: by its Content-Length, else as it arrives.

    FastAPI's own ``max_body_size`` answers in plain text; this one says which limit was hit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.detail = (
            f"the request body exceeds the limit of {max_bytes} bytes (max_body_bytes): "
            "send fewer records per request"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer 413 before the app runs, or while it reads the body."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            response = JSONResponse(status_code=413, content={"detail": self.detail})
            await response(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(status_code=413, detail=self.detail)
            return message

        await self.app(scope, limited, send)


class FastJSONRequest(Request):
    """A request whose JSON body ``json_text.loads`` reads: the same values as ``json.loads``."""

    async def json(self) -> Any:
        """The body's JSON value, read once."""
        if not hasattr(self, "_json"):
            self._json = loads(await self.body())
        return self._json


class FastJSONRoute(APIRoute):
    """A route handing its endpoint a ``FastJSONRequest`` (FastAPI's way to change the parser)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """FastAPI's handler, given the request as a ``FastJSONRequest``."""
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            return await handler(FastJSONRequest(request.scope, request.receive))

        return handle


class FastJSONResponse(JSONResponse):
    """An answer written by ``json_text.dumps``: the same values as Starlette's ``json.dumps``."""

    def render(self, content: Any) -> bytes:
        """The content as compact UTF-8 JSON."""
        return dumps(content)


def _predict(service: PredictionService, body: PredictRequest, header_key: str | None) -> Any:
    try:
        keys = request_keys(header_key, body.keys, len(body.records))
        return FastJSONResponse(service.predict(body.records, keys))
    except TooManyRecords as error:
        return JSONResponse(status_code=413, content={"detail": str(error)})
    except BadKeys as error:
        return JSONResponse(status_code=422, content={"detail": str(error)})
    except RecordsRejected as error:
        listed = [failure.as_dict() for failure in error.errors[:MAX_LISTED_ERRORS]]
        return JSONResponse(
            status_code=422, content={"detail": listed, "error_count": len(error.errors)}
        )
    except (NoModel, LogUnavailable) as error:
        return JSONResponse(status_code=503, content={"detail": str(error)})


def shape_failures(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """FastAPI's request validation errors as the 422 lists contract failures, JSON-safe.

    FastAPI's own answer echoes the input as sent, and a NaN there makes writing it fail (500).
    """
    failures = []
    for error in errors[:MAX_LISTED_ERRORS]:
        location = [str(part) for part in error.get("loc", ()) if part != "body"]
        record = None
        if len(location) >= 2 and location[0] == "records" and location[1].isdigit():
            record, location = int(location[1]), location[2:]
        field = ".".join(location) or ("record" if record is not None else "body")
        value = json_safe(error.get("input"))
        where = f"record {record}: " if record is not None else ""
        failures.append(
            {
                "record": record,
                "field": field,
                "rule": str(error.get("type", "invalid")),
                "value": value,
                "msg": f"{where}{field}: {error.get('msg', 'invalid')} (got {value!r})",
            }
        )
    return failures


def create_app(service: PredictionService, max_body_bytes: int) -> FastAPI:
    """The service's FastAPI application; it follows the registry while it runs."""
    example = example_record(service.validator)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        service.watcher.start()
        with contextlib.suppress(RecordsRejected):  # warm the request path for the first answer
            service.validator.model_frame([example])
        try:
            yield
        finally:
            service.watcher.stop()
            service.log.close()

    app = FastAPI(
        title="ml_assets prediction service",
        summary=f"Predictions of the {service.validator.spec.name} champion model",
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.router.route_class = FastJSONRoute

    @app.exception_handler(RequestValidationError)
    async def request_shape(_: Request, error: RequestValidationError) -> JSONResponse:
        """A body that is not ``{"records": [...], "keys": [...]}``: 422 naming what is wrong."""
        errors = error.errors()
        content = {"detail": shape_failures(errors), "error_count": len(errors)}
        return JSONResponse(status_code=422, content=content)

    @app.post(
        "/predict",
        response_model=PredictResponse,
        responses={
            413: {"model": Problem, "description": "Too many records or too large a body"},
            422: {"model": RecordsRejectedResponse, "description": "Records break the contract"},
            503: {"model": Problem, "description": "No champion, or the log cannot be written"},
        },
    )
    def predict(
        body: Annotated[
            PredictRequest, Body(openapi_examples={"one record": {"value": {"records": [example]}}})
        ],
        x_request_key: Annotated[str | None, Header(description="Routes the request")] = None,
    ) -> Any:
        """Predict each record with the arm its key routes to; every prediction is logged."""
        return _predict(service, body, x_request_key)

    @app.get("/health")
    def health() -> JSONResponse:
        """ok, degraded (a newer version failed to load; the old one serves) or unavailable."""
        serving, body = service.health()
        return JSONResponse(status_code=200 if serving else 503, content=body)

    @app.get("/model", responses={503: {"model": Problem}})
    def model() -> JSONResponse:
        """The champion's version, sha256, metrics and trained-on batches (and the challenger's)."""
        try:
            return JSONResponse(service.model_info())
        except NoModel as error:
            return JSONResponse(status_code=503, content={"detail": str(error)})

    return app
