"""FlowManager: runs a Dhara flow against a pipeline task, an LLM service and its context.

What entering a node does, in this order:

1. the new node's ``pre_actions`` run (``tts_say`` is pushed straight out of the LLM service, so
   it is spoken ahead of the node's first response);
2. for ``reset_with_summary``, the LLM writes a summary of the conversation so far;
3. **atomically** (one synchronous step, no ``await``): the context's messages are rebuilt by
   the node's strategy, its tools become the node's functions plus the global ones, the node's
   functions are registered on the LLM service, and ``current_node`` changes;
4. a ``FlowTransitionFrame`` (system) enters the pipeline and ``on_transition`` fires;
5. the LLM runs if ``respond_immediately`` (default);
6. ``post_actions`` run once the node's first complete response is over for the caller:
   played out where it was spoken, sent where it was text (see :mod:`vani.dhara.post`).

Messages after a transition (``R`` the role message, ``T`` the node's task messages):

* ``append``: ``[R, conversation..., T]`` — the conversation is kept, the previous node's task
  messages are removed, the new ones go at the end (after the tool result that caused the move);
* ``reset``: ``[R, T]``;
* ``reset_with_summary``: ``[R, {"role": "system", "content": "Summary of the conversation so
  far: ..."}, T]`` (if the summary fails, the strategy falls back to ``append``).

When a tool handler moves the flow, steps 1–3 happen inside the tool call, before it returns:
the service writes the tool result in the same step as 3 and then runs the LLM once, on the new
node's prompt and tools. If the call is cancelled by an interruption at any point before 3, the
flow stays in the old node (the tool message says the call was cancelled); after 3 nothing can
cancel it. A call to a function the current node does not offer (a stale call of an older
generation) is answered with an error and changes nothing.

Not thread-safe: use it from the event loop that runs the pipeline.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol, TypeAlias, cast

from vani.dhara.agents import Agent, Handoff, handoff_message
from vani.dhara.flows import (
    NO_RESPONSE,
    ContextStrategyConfig,
    NodeConfig,
    flow_from_config,
    function_from_spec,
    is_flows_config,
    node_from_config,
)
from vani.dhara.load import FlowSource, load_flow
from vani.dhara.model import (
    Action,
    ActionHandler,
    ContextStrategy,
    ContextStrategyKind,
    Flow,
    FlowFunction,
    FlowHandler,
    Node,
)
from vani.dhara.post import WATCHED_FRAMES, PostActionsAfter, PostActionWatch
from vani.dhara.results import (
    declared_target,
    record_choice,
    run_transition_callback,
    takes_flow_manager,
    without_llm_run,
)
from vani.dhara.state import render, render_message
from vani.dhara.summary import llm_summary
from vani.dhara.tasks import FlowTask, TaskDone
from vani.dhara.validate import node_problems
from vani.errors import ConfigurationError, FlowError, FlowValidationError
from vani.events import EventEmitter
from vani.frames import (
    EndFrame,
    FlowTransitionFrame,
    Frame,
    JSONObject,
    JSONValue,
    LLMContextFrame,
    OutputTransportMessageUrgentFrame,
    TTSSpeakFrame,
    TTSUpdateSettingsFrame,
)
from vani.pipeline.observers import BaseObserver, FramePushed

if TYPE_CHECKING:
    from vani.pipeline import PipelineTask
    from vani.processors.aggregators.llm_context import LLMContext
    from vani.services.llm.base import LLMService
    from vani.services.llm.functions import FunctionCallParams

__all__ = ["FlowManager", "Summarizer"]

logger = logging.getLogger(__name__)

#: ``async def summarize(messages, prompt) -> str``: writes the summary for
#: ``reset_with_summary`` from the conversation so far.
Summarizer: TypeAlias = Callable[[list[JSONObject], str], Awaitable[str]]

_STAY_OK: JSONValue = {"status": "ok"}


class _ContextSource(Protocol):
    """A context aggregator pair (or anything else that exposes the shared context)."""

    @property
    def context(self) -> LLMContext: ...


class FlowManager(EventEmitter):
    """Runs ``flow`` (a :class:`Flow`, a dict, a Pipecat Flows ``FlowConfig`` — also accepted
    as ``flow_config=`` — or a path to a JSON/YAML file; None for a flow made only of nodes
    built at run time) on ``llm`` and the context of ``context_aggregator``.

    ``handlers`` binds the handler names used by the flow (function handlers
    ``async def h(args[, flow_manager])`` and function-action handlers
    ``async def h(action, flow_manager)``); ``action_handlers`` adds user action types.
    ``summarizer`` replaces the LLM-written summary of ``reset_with_summary``;
    ``summary_timeout_secs`` bounds it. Post-actions run when the node's first response is over
    for the caller: with ``post_actions_after="auto"``, the default, once it has left the
    output transport and nothing of it is still being spoken (a spoken reply: when the bot
    stopped speaking it; a text reply over a socket: when it went out; no output transport:
    when the LLM ended it). ``"bot_stopped_speaking"`` or ``"response_end"`` force one moment
    (:mod:`vani.dhara.post`).

    Build it before the task runs (it watches the pipeline through an observer of the task).

    Events: ``on_transition(flow_manager, from_node: str | None, to_node: str)`` after each node
    change; ``on_handoff(flow_manager, handoff: Handoff)`` after each change of agent;
    ``on_actions_done(flow_manager, node: str, kind: "pre" | "post")``.
    """

    def __init__(
        self,
        *,
        task: PipelineTask | None = None,
        llm: LLMService,
        context_aggregator: _ContextSource | None = None,
        flow: FlowSource | None = None,
        flow_config: FlowSource | None = None,
        handlers: Mapping[str, FlowHandler | ActionHandler] | None = None,
        action_handlers: Mapping[str, ActionHandler] | None = None,
        summarizer: Summarizer | None = None,
        summary_timeout_secs: float = 15.0,
        post_actions_after: PostActionsAfter = "auto",
        worker: PipelineTask | None = None,
        context_strategy: ContextStrategy | ContextStrategyConfig | None = None,
        global_functions: Sequence[object] | None = None,
        transport: object | None = None,
    ) -> None:
        if task is None:
            task = worker
        if task is None:
            raise ConfigurationError("expected the pipeline task: pass task= (or worker=)")
        self._task = task
        self._transport = transport
        if flow_config is not None:
            if flow is not None:
                raise ConfigurationError("expected flow= or flow_config=, got both")
            flow = flow_config
        if isinstance(context_strategy, ContextStrategyConfig):
            context_strategy = context_strategy.to_strategy()
        self._default_strategy = context_strategy
        self._global_functions = [function_from_spec(f) for f in global_functions or ()]
        self._llm = llm
        self._aggregator = context_aggregator
        self._handlers: dict[str, FlowHandler | ActionHandler] = dict(handlers or {})
        self._action_handlers: dict[str, ActionHandler] = dict(action_handlers or {})
        if is_flows_config(flow):
            assert isinstance(flow, Mapping)
            flow = flow_from_config(flow, default_strategy=self._default_strategy)
        self._flow: Flow | None = (
            None
            if flow is None
            else load_flow(flow, handlers=self._handlers, action_types=self._action_handlers)
        )
        self._nodes: dict[str, Node] = {n.name: n for n in self._flow.nodes} if self._flow else {}
        self._summarizer = summarizer
        self._summary_timeout_secs = summary_timeout_secs
        if post_actions_after not in ("auto", "bot_stopped_speaking", "response_end"):
            raise ConfigurationError(
                "expected post_actions_after 'auto', 'bot_stopped_speaking' or 'response_end', "
                f"got {post_actions_after!r}"
            )
        self._post_after = post_actions_after
        self.state: dict[str, object] = {}
        self._node: Node | None = None
        # Bumped at every node change: a tool call started in an older epoch cannot move the flow.
        self._epoch = 0
        self._offered: dict[str, FlowFunction] = {}
        self._task_messages: list[JSONObject] = []
        self._role: JSONObject | None = None
        self._role_text: str | None = self._flow.role_message if self._flow else None
        self._transition: tuple[str | None, str] = (None, "")
        self._post: PostActionWatch | None = None
        self._outputs: list[object] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._tasks: list[_RunningTask] = []
        self._agent: str | None = None
        self._handoff: Handoff | None = None
        self._tts_settings: Mapping[str, JSONValue] = {}
        #: The reason given to the handoff being made (set by ``Agent.handoff_function``).
        self.handoff_reason = ""
        self._initialized = False
        for event in ("on_transition", "on_actions_done", "on_handoff"):
            self._register_event_handler(event)
        _attach_observer(task, _FlowObserver(self))
        task.add_event_handler("on_pipeline_finished", self._on_pipeline_finished)

    # -- public API ------------------------------------------------------------------------------

    @property
    def flow(self) -> Flow | None:
        return self._flow

    @property
    def current_node(self) -> str | None:
        """Name of the node the conversation is in (None before :meth:`initialize`)."""
        return self._node.name if self._node is not None else None

    @property
    def node(self) -> Node | None:
        """The node the conversation is in."""
        return self._node

    @property
    def task(self) -> PipelineTask:
        return self._task

    @property
    def llm(self) -> LLMService:
        return self._llm

    @property
    def context(self) -> LLMContext:
        """The shared context (the aggregator's; the LLM service's when there is none)."""
        if self._aggregator is not None:
            return self._aggregator.context
        return self._llm.context

    @property
    def worker(self) -> PipelineTask:
        """The pipeline task (Flows' newer name for :attr:`task`)."""
        return self._task

    def get_current_context(self) -> list[JSONObject]:
        """The messages of the shared context, as Flows returns them."""
        return self.context.get_messages()

    @property
    def transport(self) -> object | None:
        """The transport given to the constructor (Flows' spelling), if any."""
        return self._transport

    def register_action(self, action_type: str, handler: ActionHandler) -> None:
        """Handle actions of ``action_type`` with ``async def handler(action, flow_manager)``."""
        self._action_handlers[action_type] = handler

    async def initialize(
        self,
        initial_node: str
        | Node
        | NodeConfig
        | Mapping[str, object]
        | FlowTask[object]
        | None = None,
    ) -> None:
        """Enter the initial node (the flow's, or ``initial_node``): set the role message, the
        node's prompt and tools, and run the LLM if the node responds immediately."""
        if self._initialized:
            raise FlowError("the flow manager is already initialized")
        target = initial_node if initial_node is not None else self._initial_name()
        self._initialized = True
        await self.set_node(target)

    async def set_node_from_config(self, node_config: NodeConfig | Mapping[str, object]) -> None:
        """Pipecat Flows' name for :meth:`set_node` with a ``NodeConfig``."""
        await self.set_node(node_config)

    @property
    def current_agent(self) -> str | None:
        """The agent talking now (None when the flow's nodes are not agents)."""
        return self._agent

    @property
    def current_task(self) -> FlowTask[object] | None:
        """The sub-task the flow is in (the innermost one), or None."""
        return self._tasks[-1].task if self._tasks else None

    async def set_node(
        self,
        node: str | Node | NodeConfig | Mapping[str, object] | FlowTask[object],
        node_config: NodeConfig | Mapping[str, object] | None = None,
    ) -> None:
        """Move to ``node`` (a name, or a node built at run time) from outside a tool call:
        run its pre-actions, apply it, announce it, and run the LLM if it responds
        immediately. ``set_node("name", node_config)`` is Flows' older form (the node built from
        ``node_config`` and called ``name``).

        Called from a ``transition_callback``, it only records the choice: the node is entered
        when the callback returns, atomically with the tool result (``docs/dhara.md``)."""
        if node_config is not None:
            if not isinstance(node, str):
                raise FlowError(
                    "expected set_node(name, node_config) or set_node(node); got a "
                    f"{type(node).__name__} with a node_config"
                )
            node = {**node_config, "name": node}
        if record_choice(self, node):
            return
        if not self._initialized:
            raise FlowError("call initialize() before set_node()")
        target, move = self._plan(node)
        summary = await self._prepare(target)
        self._apply(target, summary, move)
        await self._announce()
        if target.respond_immediately:
            await self._task.queue_frame(LLMContextFrame(context=self.context))

    # -- entering a node ---------------------------------------------------------------------------

    def _initial_name(self) -> str:
        if self._flow is None:
            raise FlowError("no flow was given: pass the initial node to initialize()")
        return self._flow.initial_node

    def _plan(self, node: object) -> tuple[Node, _Move]:
        """The node to enter for ``node`` (a name, Node, NodeConfig, a sub-task to start, or a
        finished sub-task to return from), and what entering it does to the task stack."""
        if isinstance(node, Agent):
            return self._resolve(node.node()), _Move()
        if isinstance(node, FlowTask):
            if self._node is None:
                raise FlowError("a sub-task needs a node to return to; it cannot be the first")
            return self._resolve(node.entry()), _Move(start=node)
        if isinstance(node, TaskDone):
            if not self._tasks or self._tasks[-1].task is not node.task:
                raise FlowError(f"{node.task!r} finished but is not the task the flow is in")
            back = self._tasks[-1].return_to
            # Back where the task started: the conversation kept, entry actions not run again.
            resumed = dataclasses.replace(
                back,
                context_strategy=ContextStrategy.append(),
                pre_actions=[],
                post_actions=[],
                respond_immediately=True,
            )
            return resumed, _Move(finish=node)
        if isinstance(node, str | Node | Mapping):
            return self._resolve(node), _Move()
        raise FlowError(
            f"expected a node name, a Node, a NodeConfig or a FlowTask, got {type(node).__name__}"
        )

    def _resolve(self, node: str | Node | Mapping[str, object]) -> Node:
        if isinstance(node, Mapping):
            node = node_from_config(node, default_strategy=self._default_strategy)
        if isinstance(node, Node):
            problems = node_problems(
                node,
                known_nodes=set(self._nodes) | {node.name},
                handlers=self._handlers,
                action_types=self._action_handlers,
            )
            if problems:
                raise FlowValidationError(problems)
            return node
        found = self._nodes.get(node)
        if found is None:
            raise FlowError(f"unknown node {node!r}; expected one of {sorted(self._nodes)}")
        return found

    async def _prepare(self, node: Node) -> str | None:
        """Everything that may take time before a node is entered: its pre-actions, then the
        summary. Cancelling here leaves the flow where it was."""
        await self._run_actions(node, node.pre_actions, "pre")
        summary = None
        if node.context_strategy.kind is ContextStrategyKind.RESET_WITH_SUMMARY and self._node:
            summary = await self._summarize(node.context_strategy.summary_prompt)
        await self._switch_voice(node)
        return summary

    async def _switch_voice(self, node: Node) -> None:
        """Before a handoff is applied: the new agent's voice, in order with the speech (the
        last thing that may be cancelled; a cancelled switch is put back)."""
        if node.agent is None or node.agent == self._agent or not node.tts_settings:
            return
        previous = self._tts_settings
        try:
            self._tts_settings = dict(node.tts_settings)
            await self._llm.push_frame(TTSUpdateSettingsFrame(settings=dict(node.tts_settings)))
        except asyncio.CancelledError:
            self._spawn(self._restore_voice(previous))
            raise

    async def _restore_voice(self, settings: Mapping[str, JSONValue]) -> None:
        if settings and settings != self._tts_settings:
            self._tts_settings = dict(settings)
            await self._llm.push_frame(TTSUpdateSettingsFrame(settings=dict(settings)))

    def _apply(self, node: Node, summary: str | None, move: _Move | None = None) -> None:
        """Enter ``node`` in one synchronous step (see the module docstring)."""
        context = self.context
        kind = node.context_strategy.kind
        if kind is ContextStrategyKind.RESET_WITH_SUMMARY and summary is None:
            kind = ContextStrategyKind.APPEND if self._node is not None else kind
        if node.role_message:
            self._role_text = node.role_message
        role = self._role_message()
        task_messages = [render_message(m, self.state) for m in node.task_messages]
        if self._node is None or kind is ContextStrategyKind.APPEND:
            messages = [m for m in context.messages if not self._is_flow_message(m)]
            if role is not None:
                messages.insert(0, role)
            messages.extend(task_messages)
        else:
            messages = [role] if role is not None else []
            if kind is ContextStrategyKind.RESET_WITH_SUMMARY:
                text = f"Summary of the conversation so far: {summary}"
                messages.append({"role": "system", "content": text})
            messages.extend(task_messages)
        offered = self._functions_of(node)
        # One step from here on: no await until the node is fully entered.
        context.messages[:] = messages
        context.set_tools([f.to_tool() for f in offered.values()])
        for name, function in offered.items():
            self._llm.register_function(
                name,
                self._dispatcher(name),
                cancel_on_interruption=function.cancel_on_interruption,
                timeout_secs=function.timeout_secs,
            )
        if node.agent is not None and node.llm_settings:
            self._llm.update_settings(node.llm_settings)
        if node.agent is not None and node.agent != self._agent:
            self._handoff = Handoff(self._agent, node.agent, self.handoff_reason)
            self._agent = node.agent
            self.handoff_reason = ""
        previous = self._node
        self._nodes.setdefault(node.name, node)
        self._node = node
        self._offered = offered
        self._task_messages = task_messages
        self._role = role
        self._epoch += 1
        self._transition = (previous.name if previous is not None else None, node.name)
        self._post = (
            PostActionWatch(node, self._epoch, time.monotonic_ns()) if node.post_actions else None
        )
        if move is not None:
            self._move_tasks(previous, move)

    def _move_tasks(self, previous: Node | None, move: _Move) -> None:
        """Push a started sub-task / pop a finished one (part of the synchronous entry)."""
        if move.start is not None and previous is not None:
            self._tasks.append(_RunningTask(move.start, previous))
        if move.finish is not None:
            self._tasks.pop()
            task, value = move.finish.task, move.finish.value
            self.state[task.result_key] = value
            if task.on_result is not None:
                try:
                    task.on_result(value, self)
                except Exception:
                    logger.exception("%s: on_result of %r failed", self, task)

    async def _announce(self) -> None:
        """Tell the pipeline and the event handlers about the node change just applied."""
        from_node, to_node = self._transition
        await self._task.queue_frame(FlowTransitionFrame(from_node=from_node, to_node=to_node))
        await self._call_event_handler("on_transition", from_node, to_node)
        handoff, self._handoff = self._handoff, None
        if handoff is not None:
            message = OutputTransportMessageUrgentFrame(message=handoff_message(handoff))
            await self._task.queue_frame(message)
            await self._call_event_handler("on_handoff", handoff)

    def _role_message(self) -> JSONObject | None:
        if not self._role_text:
            return None
        return {"role": "system", "content": render(self._role_text, self.state)}

    def _is_flow_message(self, message: JSONObject) -> bool:
        """True for the role message and the current node's task messages (replaced on entry)."""
        role = self._role
        return any(message == m for m in self._task_messages) or (
            role is not None and message == role
        )

    def _functions_of(self, node: Node) -> dict[str, FlowFunction]:
        offered: dict[str, FlowFunction] = {}
        flow_globals = self._flow.global_functions if self._flow else []
        for function in [*node.functions, *flow_globals, *self._global_functions]:
            offered.setdefault(function.name, function)
        return offered

    # -- tool calls ----------------------------------------------------------------------------

    def _dispatcher(self, name: str) -> Callable[[FunctionCallParams], Awaitable[object]]:
        async def dispatch(params: FunctionCallParams) -> object:
            return await self._call(name, params)

        dispatch.__name__ = f"flow:{name}"
        return dispatch

    async def _call(self, name: str, params: FunctionCallParams) -> object:
        function = self._offered.get(name)
        if function is None:
            # A call made while another node was current: it must not act in this one.
            return {"error": f"function {name!r} is not available now"}
        epoch = self._epoch
        result, next_node = await self._run_handler(function, params.arguments)
        if next_node is None:
            next_node = declared_target(function, result)
        if next_node is None and function.transition_callback is not None:
            next_node = await run_transition_callback(function, params.arguments, result, self)
        if next_node is None:
            return result
        if next_node is NO_RESPONSE:
            return await without_llm_run(result, params)
        if epoch != self._epoch:
            logger.warning(
                "%s: %r asked to move to %r after the flow had already moved; ignored",
                self,
                name,
                next_node if isinstance(next_node, str) else getattr(next_node, "name", None),
            )
            return result
        target, move = self._plan(next_node)
        summary = await self._prepare(target)
        if epoch != self._epoch:
            # Another call moved the flow while this one prepared: its voice stays.
            if self._node is not None:
                self._spawn(self._restore_voice(self._node.tts_settings))
            return result
        self._apply(target, summary, move)
        # The service writes the result in this same step; what follows cannot be cancelled.
        self._spawn(self._announce())
        if not target.respond_immediately:
            return await without_llm_run(result, params)
        return result

    async def _run_handler(
        self, function: FlowFunction, arguments: Mapping[str, JSONValue]
    ) -> tuple[object, object]:
        handler = function.handler
        if handler is None:
            return _STAY_OK, None
        if isinstance(handler, str):
            bound = self._handlers.get(handler)
            if bound is None:
                raise FlowError(f"no handler named {handler!r} was given")
            handler = cast(FlowHandler, bound)
        args = dict(arguments)
        returned = await (handler(args, self) if takes_flow_manager(handler) else handler(args))
        if isinstance(returned, tuple):
            if len(returned) != 2:
                raise FlowError(
                    f"handler of {function.name!r} returned a tuple of {len(returned)}; "
                    "expected (result, next_node)"
                )
            result, next_node = returned
            if (
                next_node is not None
                and not isinstance(next_node, str | Node | Mapping | FlowTask | TaskDone | Agent)
                and next_node is not NO_RESPONSE
            ):
                raise FlowError(
                    f"handler of {function.name!r} returned next_node of type "
                    f"{type(next_node).__name__}; expected a node name, a Node or a NodeConfig"
                )
            return (_STAY_OK if result is None else result), next_node
        return returned, None

    # -- actions -----------------------------------------------------------------------------------

    async def _run_actions(self, node: Node, actions: Sequence[Action], kind: str) -> None:
        for action in actions:
            await self._run_action(action)
        if actions:
            await self._call_event_handler("on_actions_done", node.name, kind)

    async def _run_action(self, action: Action) -> None:
        if action.type == "tts_say":
            await self._llm.push_frame(TTSSpeakFrame(text=render(action.text or "", self.state)))
        elif action.type == "end_conversation":
            if action.text:
                await self._llm.push_frame(TTSSpeakFrame(text=render(action.text, self.state)))
            await self._task.queue_frame(EndFrame(reason="flow ended the conversation"))
        elif action.type == "function":
            handler = action.handler
            if isinstance(handler, str):
                handler = cast("ActionHandler | None", self._handlers.get(handler))
            if handler is None:
                raise FlowError(f"no handler for function action {action.handler!r}")
            await handler(action, self)
        else:
            custom = self._action_handlers.get(action.type)
            if custom is None:
                raise FlowError(f"no handler registered for action type {action.type!r}")
            await custom(action, self)

    def _on_frame(self, data: FramePushed) -> None:
        """Observer callback: fires post-actions when they are due (:mod:`vani.dhara.post`)."""
        post = self._post
        if post is None or post.epoch != self._epoch or data.timestamp < post.entered_ns:
            return
        if self._outputs is None:
            self._outputs = _output_candidates(self._task)
        due = post.observe(
            data,
            llm=self._llm,
            mode=self._post_after,
            is_output=_is_output,
            has_output=any(_is_output(p) for p in self._outputs),
        )
        if due:
            self._fire_post(post)

    def _fire_post(self, post: PostActionWatch) -> None:
        self._post = None
        self._spawn(self._run_actions(post.node, post.node.post_actions, "post"))

    # -- summary -----------------------------------------------------------------------------------

    async def _summarize(self, prompt: str) -> str | None:
        messages = self.context.get_messages()

        async def write() -> str:
            if self._summarizer is not None:
                return await self._summarizer(messages, prompt)
            return await llm_summary(self._llm, messages, prompt)

        # The summary runs in a task of its own, bounded with asyncio.wait: no asyncio.timeout
        # around an await, since the caller's await may be moved to another task (a processor
        # running inline), where a timeout scope bound to the first task would misfire.
        job = asyncio.get_running_loop().create_task(write())
        try:
            done, _ = await asyncio.wait({job}, timeout=self._summary_timeout_secs)
        except asyncio.CancelledError:
            job.cancel()
            raise
        if not done:
            job.cancel()
            logger.warning("%s: summary timed out; keeping the conversation instead", self)
            return None
        try:
            return job.result()
        except Exception as exc:  # any failure falls back to append
            logger.warning("%s: summary failed (%s); keeping the conversation instead", self, exc)
            return None

    # -- housekeeping ------------------------------------------------------------------------------

    async def _on_pipeline_finished(self, task: PipelineTask, frame: object) -> None:
        """The call is over: post-actions still waiting will never run; stop background work."""
        self._post = None
        pending = [t for t in self._background if not t.done()]
        for t in pending:
            t.cancel()
        if pending:
            await asyncio.wait(pending)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.get_running_loop().create_task(_guard(coro, self))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def __repr__(self) -> str:
        return f"FlowManager(node={self.current_node!r})"


@dataclasses.dataclass(slots=True, frozen=True)
class _Move:
    start: FlowTask[object] | None = None
    finish: TaskDone[object] | None = None


@dataclasses.dataclass(slots=True, frozen=True)
class _RunningTask:
    task: FlowTask[object]
    return_to: Node


class _FlowObserver(BaseObserver):
    def __init__(self, manager: FlowManager) -> None:
        self._manager = manager

    def wants(self, frame_type: type[Frame]) -> bool:
        return issubclass(frame_type, WATCHED_FRAMES)

    async def on_push_frame(self, data: FramePushed) -> None:
        if isinstance(data.frame, WATCHED_FRAMES):
            self._manager._on_frame(data)


def _output_candidates(task: PipelineTask) -> list[object]:
    """Every processor of the task's pipeline (looked at again at each frame: a stand-in may
    change whether it reports the bot's speech)."""
    pipeline = task.pipeline
    tree = getattr(pipeline, "processors_tree", None)
    return list(tree()) if callable(tree) else [pipeline]


def _is_output(processor: object) -> bool:
    """True for an output transport, or a processor that says it reports the bot's speech
    (``reports_bot_speech = True``, for stand-ins in tests)."""
    from vani.transports.base import BaseOutputTransport

    return isinstance(processor, BaseOutputTransport) or (
        getattr(processor, "reports_bot_speech", False) is True
    )


def _attach_observer(task: PipelineTask, observer: BaseObserver) -> None:
    task.add_observer(observer)


async def _guard(coro: Awaitable[None], owner: object) -> None:
    try:
        await coro
    except asyncio.CancelledError:
        raise
    except Exception:
        logger.exception("%s: flow background work failed", owner)
