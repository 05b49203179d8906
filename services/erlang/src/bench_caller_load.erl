%% @doc The caller's load engine (contract/LOADGEN.md, "The plan", "Timing and checking"):
%% a process per user, an arrival-schedule process for open loop, and the measurements
%% every user records into without messages: per phase, HdrHistograms (bench_hdr) and a
%% `counters' array. The Locust worker (bench_caller) owns a context made by `new/3',
%% starts users with `user/2', and builds `bench_results' with `results/1'.
-module(bench_caller_load).

-export([new/3, user/2, schedule/1, next_slot/1, slots/4, phase_of/2, results/1,
         count_dropped/2, ui_snapshot/1]).
-export_type([ctx/0]).

-define(LATE_NS, 5000000).
-define(SAMPLES, 5).
%% Counters of a phase, at (P - 1) * ?NC + K.
-define(NC, 8).
-define(REQUESTS, 1).
-define(ERRORS, 2).
-define(WRONG, 3).
-define(ISSUED, 4).
-define(DROPPED, 5).
-define(LATE, 6).
-define(QUEUED, 7).
-define(SAMPLED, 8).

-record(ctx, {cfg :: map(), worker :: pid(),
              phases :: tuple(),        % {Start, End, Spec} per phase, ns (End may be infinity)
              open :: boolean(),
              sched = none :: none | pid(),
              hists :: tuple(),         % {Corrected, Uncorrected, WakeupLag, QueueDelay} per phase
              ctrs :: counters:counters_ref(),
              ui :: bench_hdr:histogram(),  % every request's latency since the start (Locust's UI)
              ui_fail :: counters:counters_ref()}).

-opaque ctx() :: #ctx{}.

%% @doc The context of one test: the plan's phases fixed from `StartNs' (monotonic ns).
-spec new(map(), integer(), pid()) -> ctx().
new(#{<<"plan">> := Plan} = Cfg, StartNs, Worker) ->
    Specs = maps:get(<<"phases">>, Plan),
    {Phases, _} = lists:mapfoldl(
                    fun(S, T) ->
                            End = case maps:get(<<"duration_s">>, S) of
                                      infinity -> infinity;
                                      D -> T + round(D * 1.0e9)
                                  end,
                            {{T, End, S}, End}
                    end, StartNs, Specs),
    N = length(Specs),
    Open = maps:get(<<"open_loop">>, Plan) =:= true,
    Ctx = #ctx{cfg = Cfg, worker = Worker, phases = list_to_tuple(Phases), open = Open,
               hists = list_to_tuple([{bench_hdr:new(), bench_hdr:new(), bench_hdr:new(),
                                       bench_hdr:new()} || _ <- Specs]),
               ctrs = counters:new(max(1, N * ?NC), [write_concurrency]),
               ui = bench_hdr:new(), ui_fail = counters:new(1, [write_concurrency])},
    case Open of
        true ->
            Seed = maps:get(<<"seed">>, Plan),
            Poisson = maps:get(<<"arrival">>, Plan) =:= <<"poisson">>,
            Sched = spawn_link(fun() -> schedule({Ctx, Poisson, rand:seed_s(exsss, Seed)}) end),
            Ctx#ctx{sched = Sched};
        false ->
            Ctx
    end.

%% @doc The index (1-based) of the phase holding monotonic time T, or none.
-spec phase_of(ctx() | tuple(), integer()) -> pos_integer() | none.
phase_of(#ctx{phases = Ps}, T) -> phase_of(Ps, T);
phase_of(Ps, T) -> phase_of(Ps, T, 1).

phase_of(Ps, _T, I) when I > tuple_size(Ps) -> none;
phase_of(Ps, T, I) ->
    case element(I, Ps) of
        {S, E, _} when S =< T, T < E -> I;
        _ -> phase_of(Ps, T, I + 1)
    end.

%% -- the schedule -------------------------------------------------------------------------

%% @doc The arrival schedule's loop: `{next, From}' gets `{slot, Due, Phase}' or `done';
%% `{dropped, Now, From}' counts the slots due before Now never handed out.
-spec schedule({ctx(), boolean(), rand:state()}) -> no_return().
schedule(Init) ->
    schedule_loop(slots_init(Init)).

schedule_loop(S) ->
    receive
        {next, From} ->
            {Slot, S1} = slots_next(S),
            case Slot of
                {_Due, P} -> count(S1, P, ?ISSUED);
                done -> ok
            end,
            From ! {slot, Slot},
            schedule_loop(S1);
        {dropped, Now, From} ->
            S1 = drop_until(S, Now),
            From ! {dropped, self()},
            schedule_loop(S1)
    end.

drop_until(S, Now) ->
    case slots_next(S) of
        {{Due, P}, S1} when Due < Now -> count(S1, P, ?DROPPED), drop_until(S1, Now);
        {_, S1} -> S1
    end.

count({#ctx{ctrs = C}, _, _, _, _}, P, K) -> counters:add(C, (P - 1) * ?NC + K, 1).

%% A schedule state: {Ctx, Poisson, Rng, PhaseIndex, T}.
slots_init({#ctx{phases = Ps} = Ctx, Poisson, Rng}) ->
    T0 = case tuple_size(Ps) of 0 -> 0; _ -> element(1, element(1, Ps)) end,
    {Ctx, Poisson, Rng, 1, T0}.

slots_next({#ctx{phases = Ps}, _, _, I, _} = S) when I > tuple_size(Ps) -> {done, S};
slots_next({#ctx{phases = Ps} = Ctx, Poisson, Rng, I, T} = S) ->
    {_Start, End, Spec} = element(I, Ps),
    case maps:get(<<"rate">>, Spec) of
        Rate when is_number(Rate), Rate > 0, End =/= infinity ->
            {Gap, Rng1} = case Poisson of
                              true ->
                                  {U, R1} = rand:uniform_real_s(Rng),
                                  {-math:log(U) / Rate, R1};
                              false -> {1.0 / Rate, Rng}
                          end,
            Due = T + round(Gap * 1.0e9),
            case Due >= End of
                true -> slots_next(next_phase(S));
                false -> {{Due, I}, {Ctx, Poisson, Rng1, I, Due}}
            end;
        _ ->
            slots_next(next_phase(S))
    end.

next_phase({#ctx{phases = Ps} = Ctx, Poisson, Rng, I, _T}) ->
    T = case I + 1 =< tuple_size(Ps) of
            true -> element(1, element(I + 1, Ps));
            false -> 0
        end,
    {Ctx, Poisson, Rng, I + 1, T}.

%% @doc The first N slots of an open-loop plan (for tests): [{DueNs, Phase}].
-spec slots(map(), integer(), boolean(), non_neg_integer()) -> [{integer(), pos_integer()}].
slots(Cfg, StartNs, Poisson, N) ->
    Ctx = new(Cfg#{<<"plan">> => (maps:get(<<"plan">>, Cfg))#{<<"open_loop">> => false}},
              StartNs, self()),
    Seed = maps:get(<<"seed">>, maps:get(<<"plan">>, Cfg)),
    take(slots_init({Ctx, Poisson, rand:seed_s(exsss, Seed)}), N).

take(_S, 0) -> [];
take(S, N) ->
    case slots_next(S) of
        {done, _} -> [];
        {Slot, S1} -> [Slot | take(S1, N - 1)]
    end.

%% @doc Asks the schedule for the next slot.
-spec next_slot(ctx()) -> {integer(), pos_integer()} | done.
next_slot(#ctx{sched = Pid}) ->
    Pid ! {next, self()},
    receive {slot, Slot} -> Slot end.

%% @doc At stop: counts the slots due before Now that were never sent.
-spec count_dropped(ctx(), integer()) -> ok.
count_dropped(#ctx{sched = none}, _Now) -> ok;
count_dropped(#ctx{sched = Pid}, Now) ->
    Pid ! {dropped, Now, self()},
    receive {dropped, Pid} -> ok after 5000 -> ok end.

%% -- users --------------------------------------------------------------------------------

%% @doc One user: its own client, requests until `stop' (closed loop: back to back from the
%% plan's start; open loop: one slot of the schedule at a time).
-spec user(ctx(), pos_integer()) -> ok.
user(#ctx{cfg = Cfg, phases = Ps} = Ctx, N) ->
    Client = bench_caller_client:open(Cfg, N),
    Start = element(1, element(1, Ps)),
    case sleep_until(Start) of
        stop -> ok;
        ok ->
            {_, End, _} = element(tuple_size(Ps), Ps),
            Client1 = case Ctx#ctx.open of
                          true -> open_loop(Ctx, Client);
                          false -> closed_loop(Ctx, Client, End)
                      end,
            _ = bench_caller_client:close(Client1),
            ok
    end.

closed_loop(Ctx, Client, End) ->
    receive stop -> Client
    after 0 ->
            Sent = now_ns(),
            case Sent >= End of
                true -> idle(Client);
                false ->
                    closed_loop(Ctx, send(Ctx, Client, phase_of(Ctx, Sent), Sent), End)
            end
    end.

open_loop(Ctx, Client) ->
    receive stop -> Client
    after 0 ->
            case next_slot(Ctx) of
                done -> idle(Client);
                {Due, P} ->
                    Now = now_ns(),
                    case Due > Now of
                        true ->
                            case sleep_until(Due) of
                                stop -> Client;
                                ok ->
                                    Woke = now_ns(),
                                    note(Ctx, P, 3, ?LATE, Woke - Due),
                                    open_loop(Ctx, send(Ctx, Client, P, Woke))
                            end;
                        false ->
                            note(Ctx, P, 4, ?QUEUED, Now - Due),
                            open_loop(Ctx, send(Ctx, Client, P, Due))
                    end
            end
    end.

idle(Client) -> receive stop -> Client end.

sleep_until(T) ->
    case T - now_ns() of
        Left when Left > 0 ->
            receive stop -> stop
            after (Left + 999999) div 1000000 -> ok
            end;
        _ -> ok
    end.

now_ns() -> erlang:monotonic_time(nanosecond).

note(#ctx{hists = H, ctrs = C}, P, Which, K, Ns) ->
    bench_hdr:record(element(Which, element(P, H)), Ns / 1000),
    case Ns > ?LATE_NS of
        true -> counters:add(C, (P - 1) * ?NC + K, 1);
        false -> ok
    end.

%% One request: sent now, timed, checked, recorded in phase P (none: outside the plan).
send(#ctx{cfg = Cfg, hists = H, ctrs = C, open = Open} = Ctx, Client, P, Intended) ->
    Timeout = maps:get(<<"timeout_s">>, Cfg),
    Sent = now_ns(),
    Deadline = erlang:monotonic_time(millisecond) + round(Timeout * 1000),
    {Reply, Client1} = bench_caller_client:call(Client, Deadline),
    Req = maps:get(<<"request">>, Cfg),
    Outcome = case Reply of
                  {ok, Status, Body} ->
                      case bench_caller_client:check(maps:get(<<"op">>, Req), {Status, Body}, Req) of
                          ok -> ok;
                          {wrong, Why} -> {?WRONG, Why}
                      end;
                  {error, Why} ->
                      {?ERRORS, iolist_to_binary(io_lib:format("no reply: ~0p", [Why]))}
              end,
    Done = now_ns(),
    bench_hdr:record(Ctx#ctx.ui, (Done - Sent) / 1000),
    case P of
        none -> ok;
        _ ->
            {Corr, Unc, _, _} = element(P, H),
            Base = (P - 1) * ?NC,
            counters:add(C, Base + ?REQUESTS, 1),
            bench_hdr:record(Corr, (Done - Intended) / 1000),
            case Open of
                true -> bench_hdr:record(Unc, (Done - Sent) / 1000);
                false -> ok
            end,
            case Outcome of
                ok -> ok;
                {K, Message} ->
                    counters:add(Ctx#ctx.ui_fail, 1, 1),
                    counters:add(C, Base + K, 1),
                    counters:add(C, Base + ?SAMPLED, 1),
                    case counters:get(C, Base + ?SAMPLED) =< ?SAMPLES of
                        true ->
                            Ctx#ctx.worker ! {sample, P,
                                              binary:part(Message, 0, min(300, byte_size(Message)))};
                        false -> ok
                    end
            end
    end,
    Client1.

%% -- results ------------------------------------------------------------------------------

%% @doc `bench_results' phases (LOADGEN.md), from the measurements and the error samples
%% (`#{Phase => [binary()]}').
-spec results({ctx(), #{pos_integer() => [binary()]}}) -> [map()].
results({#ctx{cfg = Cfg, phases = Ps, hists = H, ctrs = C, open = Open}, Samples}) ->
    Name = maps:get(<<"name">>, Cfg),
    [begin
         {Start, End, Spec} = element(P, Ps),
         {Corr, Unc, Lag, QD} = element(P, H),
         Get = fun(K) -> counters:get(C, (P - 1) * ?NC + K) end,
         Requests = Get(?REQUESTS),
         Cells = case Requests of
                     0 -> #{};
                     _ ->
                         CC = bench_hdr:snapshot(Corr),
                         UC = case Open of true -> bench_hdr:snapshot(Unc); false -> CC end,
                         #{Name => #{<<"requests">> => Requests, <<"errors">> => Get(?ERRORS),
                                     <<"wrong">> => Get(?WRONG),
                                     <<"error_samples">> => lists:sublist(
                                                              lists:reverse(maps:get(P, Samples, [])),
                                                              ?SAMPLES),
                                     <<"latency_us">> => bench_hdr:summary(CC),
                                     <<"latency_uncorrected_us">> => bench_hdr:summary(UC),
                                     <<"histogram">> => bench_hdr:encode_counts(CC),
                                     <<"histogram_uncorrected">> => bench_hdr:encode_counts(UC)}}
                 end,
         #{<<"name">> => maps:get(<<"name">>, Spec), <<"measured">> => maps:get(<<"measured">>, Spec),
           <<"rate">> => maps:get(<<"rate">>, Spec),
           <<"duration_s">> => case End of infinity -> nil; _ -> (End - Start) / 1.0e9 end,
           <<"issued">> => Get(?ISSUED), <<"dropped">> => Get(?DROPPED),
           <<"late_wakeups">> => Get(?LATE), <<"queued">> => Get(?QUEUED),
           <<"wakeup_lag_us">> => bench_hdr:summary(bench_hdr:snapshot(Lag)),
           <<"queue_delay_us">> => bench_hdr:summary(bench_hdr:snapshot(QD)),
           <<"cells">> => Cells}
     end || P <- lists:seq(1, tuple_size(Ps))].

%% @doc Every request's latency so far and the failures (for Locust's UI stats).
-spec ui_snapshot(ctx()) -> {bench_hdr:counts(), non_neg_integer()}.
ui_snapshot(#ctx{ui = U, ui_fail = F}) -> {bench_hdr:snapshot(U), counters:get(F, 1)}.
