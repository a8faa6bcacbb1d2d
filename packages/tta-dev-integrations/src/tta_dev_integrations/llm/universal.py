"""``UniversalLLMPrimitive``: the right model for each task, within the money allowed.

One call::

    estimate complexity (when "auto")  ->  routing.decide(...)  (pure)
    -> free model: take its free-tier quota     paid model: ledger.reserve(worst case)
    -> provider call (LLMPrimitive of the chosen model)
    -> free: ledger.record_free                 paid: ledger.settle(actual cost)
    -> LLMResponse with .routing explaining the decision

A provider error sends the request back to the router with the failed model excluded,
under the same rules (a paid fallback needs the justification and a new reservation).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from time import perf_counter
from typing import TYPE_CHECKING, Any, Literal

from tta_dev_integrations.llm.attempts import Attempt, QuotaExhausted, Routing, capabilities_needed
from tta_dev_integrations.llm.budget.core import finish_despite_cancel
from tta_dev_integrations.llm.budget.journal import PendingJournal
from tta_dev_integrations.llm.budget.lease import LeaseKeeper
from tta_dev_integrations.llm.budget.ledger import (
    BudgetExceededError,
    Ledger,
    LedgerUnavailableError,
    Preflight,
    SpendSummary,
    current_month,
    to_micros,
    to_usd,
)
from tta_dev_integrations.llm.budget.profiles import BudgetProfile, parse_profile
from tta_dev_integrations.llm.budget.telemetry import (
    ALERTS,
    DECISIONS,
    PAID_CALLS,
    QUOTA_EXHAUSTED,
    REMAINING,
    RESERVED,
    SPENT,
    BudgetAlert,
)
from tta_dev_integrations.llm.catalog import Catalog, ModelInfo, load_catalog
from tta_dev_integrations.llm.complexity import Complexity, estimate_complexity
from tta_dev_integrations.llm.errors import LLMError, ResponseError, UnknownModelError
from tta_dev_integrations.llm.justification import (
    JustificationRequiredError,
    justification_problems,
    parse_justification,
)
from tta_dev_integrations.llm.policy import NO_EXPLORATION, Exploration
from tta_dev_integrations.llm.pricing import price_problem
from tta_dev_integrations.llm.primitive import LLMPrimitive, RequestLike, shared_provider
from tta_dev_integrations.llm.providers.base import Provider
from tta_dev_integrations.llm.routing import (
    NOT_JUSTIFIED,
    RoutingDecision,
    RoutingInputs,
    decide,
)
from tta_dev_integrations.llm.settlement import Settlement, output_token_bound, settle_figures
from tta_dev_integrations.llm.spend import (
    CostCapError,
    SpendBound,
    check_usd,
    input_token_bound,
    refuse_empty_prompt,
    spend_bound,
)
from tta_dev_integrations.llm.types import LLMRequest, LLMResponse, Usage
from tta_dev_integrations.llm.universal_stream import UniversalStream
from tta_dev_primitives import AllAlternativesFailedError, WorkflowContext, WorkflowPrimitive
from tta_dev_primitives.observability import active_tracer, counter, gauge
from tta_secrets import SecretsError

if TYPE_CHECKING:
    from tta_dev_integrations.llm.coders import CoderDetection
    from tta_dev_integrations.llm.prompt_signal import PromptScorer

__all__ = ["BudgetAlert", "UniversalLLMPrimitive", "UniversalStream"]  # re-exported

logger = logging.getLogger(__name__)

_TIERS: tuple[Complexity, ...] = ("low", "medium", "high")

_BUDGET_RETRIES = 3
"""Times a request decides again when its reservation lost a race for the money left."""


class UniversalLLMPrimitive(WorkflowPrimitive[RequestLike, LLMResponse]):
    """Routes each request to a model by complexity, under a budget profile.

    The request is a dict (or ``LLMRequest``) that may also carry ``complexity``
    (``low``/``medium``/``high``/``auto``), ``justification`` (for paid models) and
    ``scope`` (who is charged: one of ``scopes``, by default only the instance's own).
    The response's ``routing`` explains the choice.

    ``monthly_limit`` caps what this instance lets a scope spend in a month, counting
    what every process and machine sharing the ledger spent there; a limit stored in the
    ledger for the scope (``tta budget limit``) caps it too, and the smaller one holds.
    The instance never writes the stored limit: ``None`` means "no cap of my own".

    ``await plan(request, context)`` returns the decision without making the call.
    ``prompt_scorer`` with ``paid_threshold`` sets the tier of ``complexity="auto"``
    requests instead of the keyword estimator (see ``prompt_signal``); ``exploration``
    (none by default) lets a share of decisions sample the quality posteriors.
    """

    def __init__(
        self,
        *,
        coder: str = "auto",
        budget_profile: str | BudgetProfile = "careful",
        monthly_limit: float | None = None,
        free_models: Sequence[str] | None = None,
        paid_models: Sequence[str] | None = None,
        scope: str = "default",
        scopes: Sequence[str] | None = None,
        ledger: Ledger | None = None,
        catalog: Catalog | None = None,
        providers: Mapping[str, Provider] | None = None,
        journal: PendingJournal | None = None,
        on_budget_alert: Callable[[BudgetAlert], None] | None = None,
        alert_thresholds: Sequence[float] = (0.5, 0.8, 1.0),
        justification_window_s: float = 3600.0,
        lease_s: float = 600.0,
        name: str | None = None,
        require_verified_justification: bool = False,
        prompt_scorer: PromptScorer | None = None,
        paid_threshold: float | None = None,
        exploration: Exploration | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.profile = parse_profile(budget_profile)
        if (prompt_scorer is None) != (paid_threshold is None):
            raise ValueError(
                "prompt_scorer and paid_threshold go together: calibrate the threshold with "
                "prompt_signal.threshold_for_share on the scores of recent prompts"
            )
        #: Scores ``complexity="auto"`` prompts: ``high`` at or over ``paid_threshold``, else
        #: ``low`` (see :mod:`tta_dev_integrations.llm.prompt_signal`); ``None``: keywords.
        self.prompt_scorer = prompt_scorer
        self.paid_threshold = paid_threshold
        #: The operator's exploration budget (none by default: every decision on the means).
        self.exploration = exploration or NO_EXPLORATION
        self._rng = rng or random.Random()
        monthly_limit = check_usd("monthly_limit", monthly_limit)
        #: Refuse paid calls whose justification names free models this workflow did not try.
        self.require_verified_justification = require_verified_justification
        self.catalog = catalog or load_catalog()
        self.free_models = self._models(free_models, free=True)
        self.paid_models = self._models(paid_models, free=False)
        # Imported here: detection runs once per primitive, and the layer's import stays light.
        from tta_dev_integrations.llm.coders import coder_defaults, detect_coder

        self.coder: CoderDetection = detect_coder(coder)
        preferred = coder_defaults(self.coder).preferred_free_models
        self.free_models = [
            *[self.catalog[a] for a in preferred if a in self.catalog],
            *[m for m in self.free_models if m.alias not in preferred],
        ]
        self.monthly_limit = monthly_limit
        self._cap_micros = None if monthly_limit is None else to_micros(monthly_limit)
        self.scope = scope
        #: The scopes a request may name (``"scope"`` in the request); the own one always.
        self.scopes = frozenset([scope, *(scopes or ())])
        self._ledger = ledger
        self._providers = dict(providers or {})
        self._primitives: dict[str, LLMPrimitive] = {}
        self.on_budget_alert = on_budget_alert
        self.alert_thresholds = tuple(sorted(alert_thresholds))
        self.justification_window = timedelta(seconds=justification_window_s)
        self.lease_s = lease_s
        self.name = name or "universal-llm"
        self._alerted: set[tuple[str, str, float]] = set()
        #: Free calls and settlements the ledger could not take yet (it was unreachable),
        #: kept on disk under ``TTA_HOME`` until a process reaches the ledger.
        self.journal = journal or PendingJournal()
        self._journal_swept = False

    # -- configuration -------------------------------------------------------------

    def _models(self, aliases: Sequence[str] | None, *, free: bool) -> list[ModelInfo]:
        if aliases is None:
            return [m for m in self.catalog.values() if m.free == free]
        models = []
        for alias in aliases:
            if alias not in self.catalog:
                raise UnknownModelError(alias, list(self.catalog))
            model = self.catalog[alias]
            if model.free != free:
                kind = "free" if free else "paid"
                raise ValueError(
                    f"{alias!r} is listed among the {kind} models but the catalog says it is "
                    f"{'free' if model.free else 'paid'}; move it to the other list"
                )
            models.append(model)
        return models

    @property
    def ledger(self) -> Ledger:
        """The spend ledger (SQLite under ``TTA_HOME`` unless given or ``TTA_LEDGER_URL``)."""
        if self._ledger is None:
            from tta_dev_integrations.llm.budget.factory import open_ledger

            self._ledger = open_ledger()
        return self._ledger

    def provider(self, name: str) -> Provider:
        """The provider serving ``name``: one given to the constructor, else the shared one."""
        return self._providers.get(name) or shared_provider(name)

    def _primitive(self, alias: str) -> LLMPrimitive:
        primitive = self._primitives.get(alias)
        if primitive is None:
            model = self.catalog[alias]
            primitive = LLMPrimitive(
                alias, catalog=self.catalog, provider=self.provider(model.provider)
            )
            self._primitives[alias] = primitive
        return primitive

    # -- one call ------------------------------------------------------------------

    async def _execute_impl(self, input_data: RequestLike, context: WorkflowContext) -> LLMResponse:
        routing = await self._prepare(input_data, context)
        while True:
            summary = await self._month(routing)
            call = self._next_call(routing, self._left(summary))
            try:
                reserved_usd = await self._begin(call)
            except (BudgetExceededError, QuotaExhausted, LedgerUnavailableError) as error:
                self._note_failure(routing, call, error)
                continue
            started = perf_counter()
            keeper = self._keep_lease(call)
            try:
                response = await self._primitive(call.model.alias).execute(
                    call.request, call.context
                )
            except LLMError as error:
                if isinstance(error, ResponseError) and not call.model.free:
                    # It answered (and billed) but the answer cannot be read: charged at
                    # the reservation, estimated, never released at $0.
                    await self._abandon(call, perf_counter() - started)
                else:
                    await self._abort(call, perf_counter() - started, failed=True)
                self._note_failure(routing, call, error)
                continue
            except BaseException:
                await self._abandon(call, perf_counter() - started)
                raise
            finally:
                keeper.cancel()
            return await self._end(call, response, reserved_usd)

    async def plan(self, input_data: RequestLike, context: WorkflowContext) -> RoutingDecision:
        """The decision ``execute`` would make now, without making the call: a dry run.

        Nothing of its own is written (no ledger entry, reservation, quota or pending
        write; the ledger's read charges expired leases, as every read does) and
        no provider is asked anything: availability is what is known without asking
        (a key-less local server counts when its last probe, within its TTL, found it
        answering). When no model could serve, ``chosen`` is ``None`` and the
        candidates say why, where ``execute`` raises.
        ``execute`` may still choose otherwise: it explores on a share of decisions
        (``exploration``; a plan never does), the budget, a quota or a provider can
        change in between, and a model that fails sends it to the next candidate.
        """
        routing = await self._prepare(input_data, context, dry_run=True)
        summary = routing.month_read  # read with the routing inputs, gauges untouched
        decision, _ = self._decide(routing, self._left(summary), explore=False)
        return decision

    def stream(self, input_data: RequestLike, context: WorkflowContext) -> UniversalStream:
        """Stream the answer, routed, budgeted and settled exactly like ``execute``.

        A model that fails before its first token falls back to the next candidate;
        one that fails mid-answer raises (its reservation released), since the text
        already handed out cannot be taken back.
        """
        return UniversalStream(self, input_data, context)

    async def _prepare(
        self, input_data: RequestLike, context: WorkflowContext, *, dry_run: bool = False
    ) -> Routing:
        options = dict(input_data) if isinstance(input_data, Mapping) else {}
        request = LLMRequest.from_value(input_data)
        refuse_empty_prompt(request)
        max_cost_usd = check_usd("max_cost_usd", options.get("max_cost_usd"))
        scope = self._scope(options.get("scope"))
        month = current_month()
        if not dry_run:  # a dry run writes nothing, pending writes included
            await self._flush_pending()
        tier, source, reasons = self._tier(options.get("complexity", "auto"), request)
        justification, problems = parse_justification(options.get("justification"))
        if justification is not None:
            problems += justification_problems(justification, self.catalog)
        models = self._allowed_models(options.get("model"))
        unpriced = {m.alias: p for m in models if (p := price_problem(m)) is not None}
        if unpriced and options.get("model") is not None:
            raise LLMError(next(iter(unpriced.values())))
        models = [m for m in models if m.alias not in unpriced]
        verify = justification is not None and not problems
        seen = await self._preflight(scope, month, models, tier, context, verify=verify)
        verified = None
        if justification is not None and seen is not None and seen.tried is not None:
            verified = set(justification.free_alternatives_tried) <= seen.tried
        if self.require_verified_justification and justification and verified is not True:
            problems.append(
                "free_alternatives_tried names models this workflow did not try (or the "
                "ledger could not tell), and require_verified_justification is set"
            )
        return Routing(
            request=request,
            context=context,
            scope=scope,
            month=month,
            tier=tier,
            source=source,
            reasons=reasons,
            justification=justification,
            problems=problems,
            verified=verified,
            needs=capabilities_needed(request),
            models=models,
            worst_case_usd={},
            available=await self._available_providers(models, probe=not dry_run),
            stats={} if seen is None else seen.evidence,
            month_read=None if seen is None else seen.summary,
            max_cost_usd=max_cost_usd,
            input_bounds={m.alias: input_token_bound(request, m) for m in models if not m.free},
            unpriced=unpriced,
        )

    def _decide(
        self, routing: Routing, remaining_usd: float | None, *, explore: bool = True
    ) -> tuple[RoutingDecision, SpendBound | None]:
        """The routing decision and the chosen model's output bound; nothing written."""
        if routing.max_cost_usd is not None:
            cap = routing.max_cost_usd
            remaining_usd = cap if remaining_usd is None else min(cap, remaining_usd)
        bounds = self._bounds(routing, remaining_usd)
        routing.worst_case_usd = {alias: bound.usd for alias, bound in bounds.items()}
        decision = decide(
            RoutingInputs(
                models=routing.models,
                profile=self.profile,
                tier=routing.tier,
                worst_case_usd=routing.worst_case_usd,
                available_providers=routing.available,
                needs=routing.needs,
                remaining_usd=remaining_usd,
                justification_valid=not routing.problems,
                quota_exhausted=frozenset(routing.exhausted),
                failed=frozenset(routing.failed),
                stats=routing.stats,
                exploration=self.exploration if explore else NO_EXPLORATION,
                rng=self._rng,
            )
        )
        decision = self._explain(decision, routing)
        bound = bounds.get(decision.chosen) if decision.chosen is not None else None
        if bound is not None:  # the cap the reservation pays for is the cap the provider gets
            decision = replace(decision, max_output_tokens=bound.output_tokens)
        return decision, bound

    def _next_call(self, routing: Routing, remaining_usd: float | None) -> Attempt:
        decision, bound = self._decide(routing, remaining_usd)
        if decision.chosen is None:
            raise self._no_model_error(decision, routing)
        model = self.catalog[decision.chosen]
        counter(DECISIONS).labels(self.profile.value, model.alias, decision.reason_code).inc()
        request = routing.request
        if bound is not None:
            request = replace(request, max_tokens=bound.output_tokens)
        return Attempt(
            model,
            request,
            routing.context,
            decision,
            routing.scope,
            routing.month,
            routing.justification,
            routing.verified,
            bound=bound,
        )

    def _figures(self, call: Attempt, response: LLMResponse) -> Settlement:
        """What a served paid call is settled at: the trusted usage, else an estimate."""
        assert call.bound is not None  # every paid attempt has one
        return settle_figures(
            call.model,
            call.bound,
            call.reserved_micros,
            None if response.usage.estimated else response.usage,
            output_token_bound(response.content, response.tool_calls),
            complete=True,
            request_id=call.request_id,
        )

    def _bounds(self, routing: Routing, budget_usd: float | None) -> dict[str, SpendBound]:
        """Each paid model's output cap and worst case, the cap fitted to ``budget_usd``."""
        return {
            m.alias: spend_bound(m, routing.request, routing.input_bounds[m.alias], budget_usd)
            for m in routing.models
            if not m.free and m.provider in routing.available
        }

    def _note_failure(self, routing: Routing, call: Attempt, error: Exception) -> None:
        """Remember why ``call`` did not serve, so the next decision routes around it."""
        alias = call.model.alias
        if isinstance(error, QuotaExhausted):
            routing.exhausted.add(alias)
            counter(QUOTA_EXHAUSTED).labels(alias).inc()
            return
        if isinstance(error, BudgetExceededError) and routing.budget_retries < _BUDGET_RETRIES:
            # Others reserved since the budget was read: decide again on what is left now,
            # the output cap lowered to fit (the model drops out when even its minimum
            # does not).
            routing.budget_retries += 1
            return
        routing.errors.append(error)
        if isinstance(error, LedgerUnavailableError):
            # Fail closed for paid calls: only free models may go on.
            routing.failed.update(m.alias for m in routing.models if not m.free)
            return
        routing.failed.add(alias)  # failed, or the budget moved since the decision
        logger.warning("model %s did not serve (%s); trying the next candidate", alias, error)

    def _allowed_models(self, forced: object) -> list[ModelInfo]:
        """The models this request may use: all the instance allows, or the one it names.

        A named model must be one of ``free_models``/``paid_models`` (the profile's
        defaults when none were given); it is then routed under the same rules (a paid
        one needs its justification under ``careful``).
        """
        models = [*self.free_models, *self.paid_models]
        if forced is None:
            return models
        alias = str(forced)
        if alias not in self.catalog:
            raise UnknownModelError(alias, list(self.catalog))
        chosen = [m for m in models if m.alias == alias]
        if not chosen:
            allowed = ", ".join(m.alias for m in models) or "none"
            raise ValueError(
                f"the request names model {alias!r}, which this UniversalLLMPrimitive does not "
                f"allow (allowed: {allowed}); add it to free_models= or paid_models= when "
                'building the primitive, or leave "model" out of the request'
            )
        return chosen

    def _tier(
        self, complexity: object, request: LLMRequest
    ) -> tuple[Complexity, str, tuple[str, ...]]:
        value = str(complexity or "auto").strip().lower()
        if value in _TIERS:
            return value, "given", ()
        if value != "auto":
            raise ValueError(
                f"complexity must be one of low, medium, high, auto; got {complexity!r}"
            )
        prompt = "\n".join(m.text for m in request.messages if m.role != "system")
        if self.prompt_scorer is not None and self.paid_threshold is not None:
            from tta_dev_integrations.llm.prompt_signal import tier_for_score

            score = self.prompt_scorer.score(prompt)
            why = f"prompt score {score:.3f} against the paid threshold {self.paid_threshold:g}"
            return tier_for_score(score, self.paid_threshold), "scored", (why,)
        estimate = estimate_complexity(prompt)
        return estimate.tier, "estimated", estimate.reasons

    async def _preflight(
        self,
        scope: str,
        month: str,
        models: Sequence[ModelInfo],
        tier: Complexity,
        context: WorkflowContext,
        *,
        verify: bool,
    ) -> Preflight | None:
        """What routing reads from the ledger, in one read; ``None`` if unreachable.

        The month, the models' evidence on the tier and (to verify a justification) the
        models this workflow tried.
        """
        since = datetime.now(UTC) - self.justification_window if verify else None
        aliases = [m.alias for m in models]
        try:
            return await self.ledger.preflight(
                scope, month, aliases, tier, correlation_id=context.correlation_id,
                tried_since=since,
            )  # fmt: skip
        except LedgerUnavailableError:
            return None

    async def _available_providers(
        self, models: Sequence[ModelInfo], *, probe: bool = True
    ) -> frozenset[str]:
        """Providers that can serve; without ``probe``, those configured (no request)."""
        names = {m.provider for m in models}
        available = set()
        for name in names:
            try:
                provider = self.provider(name)
                if await provider.is_available() if probe else provider.cached_availability():
                    available.add(name)
            except SecretsError as error:
                # The key store (Vault) failed for this provider's key: route around the
                # provider rather than fail a request other providers can serve.
                logger.warning("provider %s skipped: its key could not be read (%s)", name, error)
        return frozenset(available)

    def _scope(self, requested: object) -> str:
        """The scope a request is charged to: the instance's, or one it allows."""
        if requested is None or requested == "":
            return self.scope
        if not isinstance(requested, str) or requested not in self.scopes:
            allowed = ", ".join(sorted(self.scopes))
            raise ValueError(
                f"the request names scope {requested!r}, which this UniversalLLMPrimitive "
                f"does not charge (allowed: {allowed}); add it to scopes= when building the "
                'primitive, or leave "scope" out of the request'
            )
        return requested

    async def _month(self, routing: Routing) -> SpendSummary | None:
        """The month the next decision spends from.

        The first decision uses the month read with the routing inputs; the next ones
        read it anew (others may have reserved meanwhile).
        """
        summary, routing.month_read = routing.month_read, None
        if summary is None:
            return await self._read_summary(routing.scope, routing.month)
        self._publish(summary)
        return summary

    async def _read_summary(self, scope: str, month: str) -> SpendSummary | None:
        """The scope's month as the ledger has it (gauges updated); ``None`` if unreachable."""
        try:
            summary = await self.ledger.summary(scope, month)
        except LedgerUnavailableError:
            return None
        self._publish(summary)
        return summary

    def _left(self, summary: SpendSummary | None) -> float | None:
        """Dollars left under the stored limit and this instance's own.

        ``None`` when neither limits the scope; 0 when the ledger could not be read (paid
        calls fail closed then: the reservation cannot be made either).
        """
        if summary is None:
            return 0.0
        remaining = summary.remaining_under(self._cap_micros)
        return None if remaining is None else to_usd(remaining)

    async def _begin(self, call: Attempt) -> float | None:
        """Take the free model's quota, or reserve the paid call's worst case."""
        model = call.model
        if model.free:
            if model.free_tier is not None and not await self._take_quota(model):
                raise QuotaExhausted(model.alias)
            return None
        reservation = await self.ledger.reserve(
            request_id=call.request_id,
            scope=call.scope,
            month=call.month,
            amount_micros=call.reserved_micros,
            model=model.alias,
            provider=model.provider,
            lease_s=self.lease_s,
            cap_micros=self._cap_micros,
            coder=self.coder.coder,
            profile=self.profile.value,
            tier=call.decision.complexity,
            correlation_id=call.context.correlation_id,
            justification=call.justification,
            justification_verified=call.verified,
        )
        return to_usd(reservation.amount_micros)

    async def _abort(self, call: Attempt, latency: float, *, failed: bool) -> None:
        """Give back a paid call's reservation; record a free call's failure."""
        if not call.model.free:
            await self.ledger.release(call.request_id, failed=failed)
        elif failed:
            await self._record_free(call, ok=False, latency=latency)

    async def _abandon(self, call: Attempt, latency: float) -> None:
        """The caller went away (cancelled, timed out) while the provider call was out.

        The provider has the request and bills what it generates, whether or not anyone
        reads the answer: a paid call is charged at its reservation (the worst case),
        marked estimated, never released at $0.
        """
        if call.model.free:
            return
        settlement: dict[str, Any] = {
            "request_id": call.request_id,
            "actual_micros": call.reserved_micros,
            "ok": False,
            "measured": False,
            "latency_s": latency,
        }
        await finish_despite_cancel(self._settle(settlement))

    def _keep_lease(self, call: Attempt) -> LeaseKeeper:
        """Renew a paid call's lease while it runs, so a long answer never outlives it."""
        return LeaseKeeper(self.ledger, call.request_id, self.lease_s, paid=not call.model.free)

    async def _end(
        self, call: Attempt, response: LLMResponse, reserved_usd: float | None
    ) -> LLMResponse:
        """Settle or record the call, and attach the routing decision to the response."""
        settled = await self._record_success(call, response)
        if settled is None:
            summary = await self._read_summary(call.scope, call.month)
        else:  # the month as the settlement left it, read in its transaction
            summary = settled
            self._publish(summary)
            await self._check_alerts(summary)
        response.routing = call.decision.with_call(
            call.request_id, reserved_usd, self._left(summary)
        )
        self._annotate(response.routing)
        return response

    async def _take_quota(self, model: ModelInfo) -> bool:
        assert model.free_tier is not None
        try:
            return await self.ledger.take_quota(
                model.alias,
                per_minute=model.free_tier.requests_per_minute,
                per_day=model.free_tier.requests_per_day,
            )
        except LedgerUnavailableError:
            return True  # free calls go on; quotas are best effort without the ledger

    async def _record_success(self, call: Attempt, response: LLMResponse) -> SpendSummary | None:
        """Record a served call; the month after it when a paid call was settled.

        ``None`` for a free call, or a settlement that waits in the journal.
        """
        if call.model.free:
            await self._record_free(call, ok=True, latency=response.latency_s, usage=response.usage)
            return None
        figures = self._figures(call, response)
        # The answer shows what the ledger records (an estimate when usage was not trusted).
        response.cost_usd = to_usd(figures.actual_micros)
        response.cost_estimated = not figures.measured
        settlement: dict[str, Any] = {
            "request_id": call.request_id,
            "actual_micros": figures.actual_micros,
            "ok": True,
            "measured": figures.measured,
            "latency_s": response.latency_s,
            "input_tokens": figures.input_tokens,
            "output_tokens": figures.output_tokens,
        }
        month = await finish_despite_cancel(self._settle(settlement))
        if month is None:
            return None
        label = "verified" if call.verified else "unverified"
        counter(PAID_CALLS).labels(self.profile.value, label).inc()
        return month

    async def _flush_pending(self) -> None:
        """Settle and record what an earlier ledger outage left in the journal."""
        # A stat per call; the folder is searched for a dead replay's files once.
        if self.journal.has_pending() or not self._journal_swept:
            self._journal_swept = True
            await self.journal.replay(self.ledger)

    async def _settle(self, settlement: dict[str, Any]) -> SpendSummary | None:
        """Settle a served call: the month after it; ``None`` when it waits in the journal.

        The money is spent either way: if the ledger cannot take it now, the settlement
        waits in the journal on disk (should the lease end first, the reservation is
        charged meanwhile, never released).
        """
        try:
            return await self.ledger.settle(**settlement)
        except LedgerUnavailableError:
            self._journal_settlement(settlement)
            return None

    def _journal_settlement(self, settlement: dict[str, Any]) -> None:
        if self._journal("settle", settlement):
            logger.warning(
                "the ledger is unreachable: the settlement of %s waits in %s and is "
                "recorded as soon as a process on this machine reaches the ledger",
                settlement["request_id"],
                self.journal.path,
            )

    def _journal(self, kind: Literal["settle", "free"], record: dict[str, Any]) -> bool:
        """Keep a ledger write on disk; ``False`` (logged as an error) if even that fails."""
        try:
            self.journal.append(kind, record)
        except OSError as error:
            logger.error(
                "the ledger is unreachable and the journal %s cannot be written (%s): call "
                "%s is not recorded (a paid call's reservation is charged when its lease "
                "ends); fix TTA_HOME or the ledger",
                self.journal.path,
                error,
                record["request_id"],
            )
            return False
        return True

    async def _record_free(
        self, call: Attempt, *, ok: bool, latency: float, usage: Usage | None = None
    ) -> None:
        entry: dict[str, Any] = {
            "request_id": call.request_id,
            "scope": call.scope,
            "month": call.month,
            "model": call.model.alias,
            "provider": call.model.provider,
            "ok": ok,
            "coder": self.coder.coder,
            "profile": self.profile.value,
            "tier": call.decision.complexity,
            "correlation_id": call.context.correlation_id,
            "latency_s": latency,
            "input_tokens": usage.input_tokens if usage else 0,
            "output_tokens": usage.output_tokens if usage else 0,
            "now": datetime.now(UTC),
        }
        try:
            await self.ledger.record_free(**entry)
        except LedgerUnavailableError:
            if self._journal("free", entry):
                logger.warning(
                    "the ledger is unreachable: free call %s waits in %s and is recorded as "
                    "soon as a process on this machine reaches the ledger",
                    call.request_id,
                    self.journal.path,
                )

    async def _check_alerts(self, summary: SpendSummary) -> None:
        """Fire each threshold the month crossed, once for every process sharing the ledger.

        The limit is the one this instance spends under (the smaller of the stored limit
        and its own); the ledger's ``claim_alert`` decides which process alerts.
        """
        limit_micros = summary.effective_limit(self._cap_micros)
        if not limit_micros:
            return
        scope, month = summary.scope, summary.month
        spent, limit = to_usd(summary.spent_micros), to_usd(limit_micros)
        for threshold in self.alert_thresholds:
            key = (scope, month, threshold)
            if summary.spent_micros < threshold * limit_micros or key in self._alerted:
                continue
            try:
                first = await self.ledger.claim_alert(scope, month, threshold, summary.spent_micros)
            except LedgerUnavailableError:
                continue  # tried again after the next settlement
            self._alerted.add(key)
            if not first:
                continue  # another process (or an earlier run) alerted already
            counter(ALERTS).labels(scope, f"{threshold:g}").inc()
            logger.warning(
                "budget of scope %r for %s: $%.4f spent, %d%% of the $%.2f limit",
                scope, month, spent, round(threshold * 100), limit,
            )  # fmt: skip
            if self.on_budget_alert is not None:
                self.on_budget_alert(BudgetAlert(scope, month, threshold, spent, limit))

    def _publish(self, summary: SpendSummary) -> None:
        scope, profile = summary.scope, self.profile.value
        gauge(SPENT).labels(scope, profile).set(to_usd(summary.spent_micros))
        gauge(RESERVED).labels(scope, profile).set(to_usd(summary.reserved_micros))
        if summary.remaining_micros is not None:
            gauge(REMAINING).labels(scope, profile).set(to_usd(summary.remaining_micros))

    def _explain(self, decision: RoutingDecision, routing: Routing) -> RoutingDecision:
        reason, code = decision.reason, decision.reason_code
        held_back = any(c.reason == NOT_JUSTIFIED for c in decision.candidates)
        if held_back and decision.chosen is not None:
            reason += (
                "; a paid model would serve this tier, but the request has no valid "
                f"justification ({'; '.join(routing.problems)}), so the best free model "
                "serves it"
            )
            code = "best_free_no_justification"
        return replace(
            decision,
            complexity_source=routing.source,
            complexity_reasons=routing.reasons,
            reason=reason,
            reason_code=code,
            coder=self.coder.coder,
            justification_problems=tuple(routing.problems),
            justification_verified=routing.verified,
        )

    def _no_model_error(self, decision: RoutingDecision, routing: Routing) -> Exception:
        if routing.errors:
            return AllAlternativesFailedError(
                f"every model {self.display_name!r} could use failed "
                f"({', '.join(decision.failed)}); see the sub-exceptions",
                routing.errors,
            )
        held_back = any(c.reason == NOT_JUSTIFIED for c in decision.candidates)
        if held_back:
            return JustificationRequiredError(routing.problems)
        cap = routing.max_cost_usd
        over = [c for c in decision.candidates if cap is not None and c.worst_case_usd > cap]
        if cap is not None and over:
            cheapest = min(over, key=lambda c: c.worst_case_usd)
            return CostCapError(cap, cheapest.worst_case_usd, cheapest.model)
        dropped = "; ".join(
            [f"{c.model}: {c.reason}" for c in decision.candidates]
            + [f"{alias}: {problem}" for alias, problem in routing.unpriced.items()]
        )
        hint = ""
        if not routing.available:
            hint = (
                "; no provider can be reached: set a provider's key (OPENROUTER_API_KEY "
                'serves the free models), or add "local" to free_models= to run the bundled '
                "model offline"
            )
        return LLMError(
            f"no model can serve this request under the {self.profile} profile ({dropped}){hint}"
        )

    def _annotate(self, decision: RoutingDecision) -> None:
        if active_tracer() is None:
            return
        from opentelemetry import trace

        span = trace.get_current_span()
        if span.is_recording():
            span.set_attributes(
                {
                    "tta.routing.profile": decision.profile,
                    "tta.routing.complexity": decision.complexity,
                    "tta.routing.complexity_source": decision.complexity_source,
                    "tta.routing.chosen": decision.chosen or "",
                    "tta.routing.reason": decision.reason_code,
                    "tta.coder": decision.coder,
                    "tta.budget.left_usd": -1.0
                    if decision.budget_left_usd is None
                    else decision.budget_left_usd,
                }
            )

    async def record_feedback(self, request_id: str, verdict: bool | float) -> None:
        """Judge an answer: ``True``/``False`` or a score in [0, 1]; the router learns from it.

        Only judged answers teach the router about quality (a call that merely returned
        says nothing about it); the latest verdict on an answer counts.
        """
        await self.ledger.record_feedback(request_id, verdict)
