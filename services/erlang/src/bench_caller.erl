%% @doc The Erlang caller: a Locust 2.47 worker (contract/LOADGEN.md). A ZMTP 3 DEALER
%% (bench_zmtp) to the master's ROUTER, identity = the node id, each message one frame of
%% msgpack (bench_msgpack) `[type, data, node_id]'. It says client_ready, bench_hello
%% until bench_config, heartbeats every second, runs the users Locust spawns on the plan
%% bench_start fixes (bench_caller_load), reports Locust stats every 3 s, and on stop
%% sends bench_results, client_stopped, client_ready. It exits 0 on quit and non-zero
%% when the master is silent for BENCH_MASTER_TIMEOUT_S (default 10) or the channel fails.
-module(bench_caller).

-export([main/1, node_id/0, locust_entry/4]).

-define(LOCUST_VERSION, <<"2.47.0">>).
-define(PROTOCOL, 1).
-define(HEARTBEAT_MS, 1000).
-define(STATS_MS, 3000).
-define(HELLO_MS, 500).
-define(CONNECT_MS, 5000).
-define(FIRST_CONTACT_MS, 60000).

-record(w, {host :: string(), port :: inet:port_number(), id :: binary(),
            sock = none :: none | gen_tcp:socket(), dec :: term(),
            master_timeout_ms :: pos_integer(), last_heard :: integer(),
            cfg = none :: none | map(),
            start_wall = none :: none | float(),
            ctx = none :: none | bench_caller_load:ctx(),
            want = 0 :: non_neg_integer(),           % users Locust asked for
            users = #{} :: #{reference() => pid()},
            samples = #{} :: #{pos_integer() => [binary()]},
            state = <<"ready">> :: binary(),
            ui_prev = none :: none | {bench_hdr:counts(), non_neg_integer()},
            cpu_prev :: {integer(), integer()},      % {runtime ms, monotonic ms}
            start_time :: float()}).

%% @doc Runs the worker until quit (halts the node with the exit status).
-spec main(#{master_host := string(), master_port := inet:port_number()}) -> no_return().
main(#{master_host := Host, master_port := Port}) ->
    TimeoutS = case os:getenv("BENCH_MASTER_TIMEOUT_S") of
                   false -> 10.0;
                   T -> number(T)
               end,
    W0 = #w{host = Host, port = Port, id = node_id(), dec = bench_zmtp:new(),
            master_timeout_ms = round(TimeoutS * 1000), last_heard = now_ms(),
            cpu_prev = cpu_now(),
            start_time = wall()},
    io:format("bench-erlang caller: Locust worker ~s of master tcp://~s:~b~n"
              "  master_timeout_s=~p BENCH_TIMEOUT_S=~s locust=~s protocol=~b~n"
              "  runtime: Erlang/OTP ~s erts-~s; schedulers ~b/~b online~n"
              "  ERL_FLAGS=~s~n",
              [W0#w.id, Host, Port, TimeoutS, os:getenv("BENCH_TIMEOUT_S", "10"),
               ?LOCUST_VERSION, ?PROTOCOL, erlang:system_info(otp_release),
               erlang:system_info(version), erlang:system_info(schedulers_online),
               erlang:system_info(schedulers), os:getenv("ERL_FLAGS", "")]),
    process_flag(trap_exit, true),
    W1 = connect(W0),
    erlang:send_after(?HEARTBEAT_MS, self(), heartbeat),
    erlang:send_after(?STATS_MS, self(), stats),
    loop(W1).

number(T) ->
    case string:to_float(T) of
        {F, ""} -> F;
        _ -> float(list_to_integer(T))
    end.

%% Locust's current_cpu_usage: the node's CPU since the last heartbeat, in percent of one
%% core (psutil's cpu_percent(), which Locust's worker sends). `runtime' is the CPU time of
%% every thread of the runtime system (schedulers spinning included).
cpu_now() ->
    {Runtime, _} = erlang:statistics(runtime),
    {Runtime, now_ms()}.

cpu_usage({Cpu0, T0}) ->
    {Cpu1, T1} = Now = cpu_now(),
    {case T1 - T0 of
         Dt when Dt > 0 -> 100.0 * (Cpu1 - Cpu0) / Dt;
         _ -> 0.0
     end, Now}.

%% @doc A Locust node id: `<hostname>_<32 hex digits>'.
-spec node_id() -> binary().
node_id() ->
    {ok, Host} = inet:gethostname(),
    Hex = [io_lib:format("~2.16.0b", [B]) || <<B>> <= crypto:strong_rand_bytes(16)],
    iolist_to_binary([Host, $_, Hex]).

fatal(Fmt, Args) ->
    io:format(standard_error, "bench-erlang caller: " ++ Fmt ++ "~n", Args),
    halt(1).

%% Connects like a ZeroMQ DEALER: retrying (every 100 ms) while the master is not yet
%% listening, for at most 60 s (the harness's wait for bench_hello).
connect(W) ->
    connect(W, {until, now_ms() + ?FIRST_CONTACT_MS}).

connect(#w{host = Host, port = Port, id = Id} = W, Deadline) ->
    case gen_tcp:connect(Host, Port, [binary, {active, once}, {nodelay, true}], ?CONNECT_MS) of
        {ok, Sock} ->
            ok = gen_tcp:send(Sock, [bench_zmtp:greeting(#{as_server => false}),
                                     bench_zmtp:ready([{<<"Socket-Type">>, <<"DEALER">>},
                                                       {<<"Identity">>, Id}])]),
            W1 = W#w{sock = Sock, dec = bench_zmtp:new()},
            send(W1, <<"client_ready">>, ?LOCUST_VERSION),
            W1#w{last_heard = now_ms()};
        {error, _} when is_tuple(Deadline) ->
            case now_ms() < element(2, Deadline) of
                true -> timer:sleep(100), connect(W, Deadline);
                false -> connect(W, once)
            end;
        {error, Why} ->
            fatal("cannot connect to the Locust master at ~s:~b: ~0p", [Host, Port, Why])
    end.

%% A lost connection: reconnected as a DEALER would, while the master's silence is under
%% BENCH_MASTER_TIMEOUT_S; then the worker gives up (no orphan when the master died).
reconnect(#w{sock = Sock, last_heard = Heard, master_timeout_ms = T} = W, Why) ->
    _ = gen_tcp:close(Sock),
    io:format(standard_error, "bench-erlang caller: lost the Locust master (~0p); reconnecting~n", [Why]),
    case now_ms() < Heard + T of
        true -> timer:sleep(100), connect(W, {until, Heard + T});
        false -> fatal("the Locust master is gone (~0p) and silent for ~b ms", [Why, now_ms() - Heard])
    end.

send(#w{sock = Sock, id = Id}, Type, Data) ->
    Frame = iolist_to_binary(bench_msgpack:encode([Type, Data, Id])),
    case gen_tcp:send(Sock, bench_zmtp:encode_frame(Frame, false)) of
        ok -> ok;
        {error, Why} -> fatal("lost the Locust master while sending ~s: ~0p", [Type, Why])
    end.

loop(W) ->
    receive
        {tcp, Sock, Data} when Sock =:= W#w.sock ->
            ok = inet:setopts(Sock, [{active, once}]),
            case bench_zmtp:decode(Data, W#w.dec) of
                {ok, Events, Dec} ->
                    loop(events(Events, W#w{dec = Dec, last_heard = now_ms()}));
                {error, Why} ->
                    fatal("bad ZMTP from the master: ~0p", [Why])
            end;
        {tcp_closed, Sock} when Sock =:= W#w.sock ->
            loop(reconnect(W, closed));
        {tcp_error, Sock, Why} when Sock =:= W#w.sock ->
            loop(reconnect(W, Why));
        heartbeat ->
            Silent = now_ms() - W#w.last_heard,
            case Silent > W#w.master_timeout_ms of
                true -> fatal("no word from the Locust master for ~b ms (BENCH_MASTER_TIMEOUT_S)",
                              [Silent]);
                false -> ok
            end,
            {Cpu, CpuNow} = cpu_usage(W#w.cpu_prev),
            send(W, <<"heartbeat">>, #{<<"state">> => W#w.state,
                                       <<"current_cpu_usage">> => Cpu,
                                       <<"current_memory_usage">> => erlang:memory(total)}),
            erlang:send_after(?HEARTBEAT_MS, self(), heartbeat),
            loop(W#w{cpu_prev = CpuNow});
        stats ->
            erlang:send_after(?STATS_MS, self(), stats),
            loop(report_stats(W));
        hello ->
            loop(hello(W));
        {sample, P, Msg} ->
            Old = maps:get(P, W#w.samples, []),
            loop(W#w{samples = (W#w.samples)#{P => [Msg | Old]}});
        {'DOWN', Ref, process, _, Reason} ->
            Reason =:= normal orelse logger:warning("caller user exited: ~0p", [Reason]),
            loop(W#w{users = maps:remove(Ref, W#w.users)});
        {'EXIT', _, normal} ->
            loop(W);
        {'EXIT', From, Why} ->
            fatal("a caller process ~0p failed: ~0p", [From, Why])
    end.

events([], W) -> W;
events([{message, [Frame]} | Rest], W) ->
    case bench_msgpack:decode(Frame) of
        {ok, [Type, Data | _]} -> events(Rest, handle(Type, Data, W));
        Other -> fatal("a message from the master is not [type, data, node_id]: ~0p", [Other])
    end;
events([{command, <<"PING">>, Data} | Rest], W) ->
    ok = gen_tcp:send(W#w.sock, bench_zmtp:pong(Data)),
    events(Rest, W);
events([{command, <<"ERROR">>, Data} | _], _W) ->
    fatal("the master's ZMTP said ERROR: ~s", [Data]);
events([_ | Rest], W) ->
    events(Rest, W).

handle(<<"ack">>, _Data, W) ->
    hello(W);
handle(<<"heartbeat">>, _Data, W) ->
    W;
handle(<<"bench_config">>, #{<<"protocol">> := ?PROTOCOL} = Cfg, W) ->
    io:format("bench-erlang caller: cell ~s (~s), target ~0p, plan ~0p~n",
              [maps:get(<<"cell">>, Cfg), maps:get(<<"name">>, Cfg),
               maps:get(<<"target">>, Cfg), maps:get(<<"plan">>, Cfg)]),
    maybe_start(W#w{cfg = Cfg});
handle(<<"bench_config">>, Cfg, W) ->
    Msg = io_lib:format("bench_config speaks load-generator protocol ~0p; this generator "
                        "speaks ~b (contract/LOADGEN.md)", [maps:get(<<"protocol">>, Cfg, nil),
                                                           ?PROTOCOL]),
    send(W, <<"exception">>, #{<<"msg">> => iolist_to_binary(Msg), <<"traceback">> => <<>>}),
    fatal("~s", [Msg]);
handle(<<"bench_start">>, #{<<"start_wall">> := StartWall}, W) ->
    maybe_start(W#w{start_wall = float(StartWall)});
handle(<<"spawn">>, #{<<"user_classes_count">> := Counts}, W) ->
    send(W, <<"spawning">>, nil),
    N = lists:sum(maps:values(Counts)),
    W1 = spawn_users(W#w{want = N, state = <<"spawning">>}),
    send(W1, <<"spawning_complete">>, #{<<"user_classes_count">> => Counts, <<"user_count">> => N}),
    W1#w{state = <<"running">>};
handle(<<"stop">>, _Data, W) ->
    W1 = stop(W),
    send(W1, <<"client_stopped">>, nil),
    send(W1, <<"client_ready">>, ?LOCUST_VERSION),
    W1#w{state = <<"ready">>};
handle(<<"quit">>, _Data, W) ->
    _ = stop_users(W),
    _ = gen_tcp:close(W#w.sock),
    io:format("bench-erlang caller: quit~n"),
    halt(0);
handle(<<"reconnect">>, _Data, W) ->
    _ = gen_tcp:close(W#w.sock),
    connect(W);
handle(_Other, _Data, W) ->
    W.

hello(#w{cfg = none} = W) ->
    send(W, <<"bench_hello">>, #{<<"protocol">> => ?PROTOCOL, <<"caller">> => <<"erlang">>,
                                 <<"pid">> => list_to_integer(os:getpid())}),
    erlang:send_after(?HELLO_MS, self(), hello),
    W;
hello(W) ->
    W.

%% The plan starts once both the config and the start time have arrived (in either order).
maybe_start(#w{cfg = Cfg, start_wall = Wall, ctx = none} = W) when Cfg =/= none, Wall =/= none ->
    StartNs = erlang:monotonic_time(nanosecond) + round((Wall - wall()) * 1.0e9),
    Ctx = bench_caller_load:new(Cfg, StartNs, self()),
    spawn_users(W#w{ctx = Ctx, samples = #{}, ui_prev = none});
maybe_start(W) ->
    W.

spawn_users(#w{ctx = none} = W) -> W;
spawn_users(#w{ctx = Ctx, want = N, users = Users} = W) ->
    Have = map_size(Users),
    New = maps:from_list([begin
                              {Pid, Ref} = spawn_monitor(bench_caller_load, user, [Ctx, I]),
                              {Ref, Pid}
                          end || I <- lists:seq(Have + 1, N)]),
    W#w{users = maps:merge(Users, New)}.

%% Stop: every user stops (an in-flight request may finish within the timeout), dropped
%% slots are counted, bench_results sent.
stop(#w{ctx = none} = W) ->
    W#w{want = 0};
stop(#w{ctx = Ctx, cfg = Cfg} = W) ->
    Now = erlang:monotonic_time(nanosecond),
    W1 = stop_users(W),
    bench_caller_load:count_dropped(Ctx, Now),
    W2 = drain_samples(W1),
    Phases = bench_caller_load:results({Ctx, W2#w.samples}),
    send(W2, <<"bench_results">>, #{<<"index">> => maps:get(<<"index">>, Cfg),
                                    <<"caller">> => <<"erlang">>, <<"protocol">> => ?PROTOCOL,
                                    <<"stopped_early">> => nil, <<"phases">> => Phases,
                                    <<"cpu">> => []}),
    W2#w{ctx = none, start_wall = none, want = 0}.

stop_users(#w{users = Users, cfg = Cfg} = W) ->
    [Pid ! stop || Pid <- maps:values(Users)],
    TimeoutMs = case Cfg of
                    none -> 1000;
                    _ -> round(maps:get(<<"timeout_s">>, Cfg) * 1000) + 1000
                end,
    Deadline = now_ms() + TimeoutMs,
    wait_users(Users, Deadline),
    W#w{users = #{}}.

wait_users(Users, _Deadline) when map_size(Users) =:= 0 -> ok;
wait_users(Users, Deadline) ->
    receive
        {'DOWN', Ref, process, _, _} -> wait_users(maps:remove(Ref, Users), Deadline)
    after max(0, Deadline - now_ms()) ->
            [exit(Pid, kill) || Pid <- maps:values(Users)],
            ok
    end.

drain_samples(W) ->
    receive
        {sample, P, Msg} ->
            Old = maps:get(P, W#w.samples, []),
            drain_samples(W#w{samples = (W#w.samples)#{P => [Msg | Old]}})
    after 0 -> W
    end.

%% Locust's UI: every 3 s while a test runs, the requests since the last report as one
%% StatsEntry (name = the cell's name, method = the transport).
report_stats(#w{ctx = none} = W) -> W;
report_stats(#w{ctx = Ctx, cfg = Cfg, ui_prev = Prev} = W) ->
    {Counts, Fails} = Now = bench_caller_load:ui_snapshot(Ctx),
    {PrevCounts, PrevFails} = case Prev of
                                  none -> {erlang:make_tuple(tuple_size(Counts), 0), 0};
                                  _ -> Prev
                              end,
    Delta = [{I - 1, element(I, Counts) - element(I, PrevCounts)}
             || I <- lists:seq(1, tuple_size(Counts)), element(I, Counts) > element(I, PrevCounts)],
    Name = maps:get(<<"name">>, Cfg),
    Method = maps:get(<<"transport">>, maps:get(<<"target">>, Cfg)),
    BodyLen = byte_size(maps:get(<<"body">>, maps:get(<<"request">>, Cfg))),
    Entry = locust_entry(Delta, Fails - PrevFails, BodyLen, {Name, Method, W#w.start_time}),
    Total = (locust_entry(Delta, Fails - PrevFails, BodyLen, {<<"Aggregated">>, <<>>, W#w.start_time})),
    Stats = case maps:get(<<"num_requests">>, Entry) of 0 -> []; _ -> [Entry] end,
    send(W, <<"stats">>, #{<<"stats">> => Stats, <<"stats_total">> => Total, <<"errors">> => #{},
                           <<"user_count">> => map_size(W#w.users),
                           <<"user_classes_count">> => #{<<"BenchCell">> => map_size(W#w.users)}}),
    W#w{ui_prev = Now}.

%% @doc Locust's StatsEntry.serialize() of requests given as [{HdrIndex, Count}] (µs),
%% response times in Locust's rounded milliseconds.
-spec locust_entry([{non_neg_integer(), pos_integer()}], non_neg_integer(), non_neg_integer(),
                   {binary(), binary(), float()}) -> map().
locust_entry(Delta, Fails, BodyLen, {Name, Method, StartTime}) ->
    Ms = [{bench_hdr:value_of(I) / 1000, K} || {I, K} <- Delta],
    N = lists:sum([K || {_, K} <- Ms]),
    Times = lists:foldl(fun({T, K}, Acc) ->
                                maps:update_with(locust_round(T), fun(V) -> V + K end, K, Acc)
                        end, #{}, Ms),
    Sec = floor(wall()),
    #{<<"name">> => Name, <<"method">> => Method,
      <<"last_request_timestamp">> => case N of 0 -> nil; _ -> wall() end,
      <<"start_time">> => StartTime, <<"num_requests">> => N, <<"num_none_requests">> => 0,
      <<"num_failures">> => Fails,
      <<"total_response_time">> => lists:sum([T * K || {T, K} <- Ms]),
      <<"max_response_time">> => lists:max([0 | [T || {T, _} <- Ms]]),
      <<"min_response_time">> => case Ms of [] -> nil; _ -> lists:min([T || {T, _} <- Ms]) end,
      <<"total_content_length">> => N * BodyLen,
      <<"response_times">> => Times,
      <<"num_reqs_per_sec">> => case N of 0 -> #{}; _ -> #{Sec => N} end,
      <<"num_fail_per_sec">> => case Fails of 0 -> #{}; _ -> #{Sec => Fails} end}.

%% Locust's StatsEntry._log_time_of_request rounding.
locust_round(T) when T < 100 -> round(T);
locust_round(T) when T < 1000 -> round(T / 10) * 10;
locust_round(T) when T < 10000 -> round(T / 100) * 100;
locust_round(T) -> round(T / 1000) * 1000.

now_ms() -> erlang:monotonic_time(millisecond).
wall() -> erlang:system_time(microsecond) / 1.0e6.
