%% @doc The redis transport: a reliable list queue served by several workers, each with
%% its own eredis connection for the blocking BLMOVE. Recovery of `<queue>:processing'
%% runs once, before the workers start (a child of bench_sup that returns `ignore').
%%
%% The consumer loop here is shared with the celery transport (bench_celery gives the
%% handler). A lost connection (a broker restart, a broker stalled past the call timeout)
%% ends the worker with `{shutdown, {redis_lost, Reason}}': its supervisor restarts it, and
%% the new worker connects with a backoff (50 ms doubling to 2 s, one log line while
%% redis is unreachable and one when it answers again), then recovers `<queue>:processing'
%% as at start, so the message the old worker held is served again: never lost.
-module(bench_redis).

-export([recover/1, start_worker/2, start_consumer/3, consumer/4, parse_header/1,
         connect/1, parse_url/1, next_delay/1, answer/2, dead/1]).

-type opts() :: #{redis_url := string(), queue := binary(), _ => _}.
-type command() :: [binary()].
%% What answers one message: the commands to run with its LREM (one pipeline).
-type handler() :: fun((binary()) -> [command()]).
-export_type([opts/0, command/0, handler/0]).

-define(BLOCK_S, <<"1">>).            % BLMOVE timeout, seconds
-define(CALL_TIMEOUT_MS, 5000).       % eredis call timeout; above the BLMOVE timeout
-define(REPLY_TTL_S, <<"60">>).
-define(MAX_HEADER, 1024).
-define(BACKOFF_FIRST_MS, 50).
-define(BACKOFF_MAX_MS, 2000).

%% @doc Moves everything a crashed worker left in `<queue>:processing' back to the right
%% end of `<queue>' so that it is served next; then lets the workers start.
-spec recover(opts()) -> ignore | {error, term()}.
recover(#{queue := Queue} = Opts) ->
    case connect(Opts) of
        {ok, C} ->
            N = recover_loop(C, Queue, processing(Queue), 0),
            logger:notice("~s: recovered ~b message(s) from ~s",
                          [maps:get(label, Opts, "redis"), N, processing(Queue)]),
            eredis:stop(C),
            ignore;
        {error, Reason} ->
            {error, {redis_connect, Reason}}
    end.

recover_loop(C, Queue, Processing, N) ->
    case query(C, [<<"LMOVE">>, Processing, Queue, <<"RIGHT">>, <<"RIGHT">>]) of
        {ok, undefined} -> N;
        {ok, _Message} -> recover_loop(C, Queue, Processing, N + 1)
    end.

%% @doc Starts worker number `N' of the redis queue.
-spec start_worker(opts(), pos_integer()) -> {ok, pid()}.
start_worker(#{queue := Queue} = Opts, N) ->
    Dead = dead(Queue),
    start_consumer(Opts, N, fun(Message) -> answer(Message, Dead) end).

%% @doc Starts consumer number `N' of `<queue>' answering each message with `Handler'.
%% It never fails to start: it acknowledges at once and then connects (with backoff).
-spec start_consumer(opts(), pos_integer(), handler()) -> {ok, pid()}.
start_consumer(Opts, N, Handler) ->
    proc_lib:start_link(?MODULE, consumer, [Opts, N, Handler, self()]).

%% @doc A consumer: its own connection; BLMOVE, handle, the handler's commands + LREM.
-spec consumer(opts(), pos_integer(), handler(), pid()) -> no_return().
consumer(#{queue := Queue} = Opts, N, Handler, Parent) ->
    proc_lib:init_ack(Parent, {ok, self()}),
    Label = maps:get(label, Opts, "redis"),
    C = connect_with_backoff(Opts, Parent, ?BACKOFF_FIRST_MS, erlang:monotonic_time(millisecond)),
    %% The first start of worker N follows the recovery child; a restart recovers itself
    %% what the connection it lost left in `:processing'.
    Key = {?MODULE, started, Label, Queue, N},
    case persistent_term:get(Key, false) of
        false ->
            persistent_term:put(Key, true);
        true ->
            Moved = recover_loop(C, Queue, processing(Queue), 0),
            logger:notice("~s worker ~b: connected again; recovered ~b message(s) from ~s",
                          [Label, N, Moved, processing(Queue)])
    end,
    loop(C, Queue, processing(Queue), Handler).

%% Retries until redis answers; logs once when it does not, once when it does again.
connect_with_backoff(Opts, Parent, Delay, Since) ->
    %% A plain TCP probe first: eredis logs a crash report for each refused connection.
    Result = case probe(Opts) of
                 ok -> connect_trapped(Opts, Parent);
                 {error, _} = NoListener -> NoListener
             end,
    case Result of
        {ok, C} ->
            C;
        {error, Reason} ->
            Delay =:= ?BACKOFF_FIRST_MS andalso
                logger:warning("~s: redis at ~s unreachable (~0p); retrying, backoff ~b ms "
                               "doubling to ~b ms",
                               [maps:get(label, Opts, "redis"), maps:get(redis_url, Opts), Reason,
                                ?BACKOFF_FIRST_MS, ?BACKOFF_MAX_MS]),
            timer:sleep(Delay),
            connect_with_backoff(Opts, Parent, next_delay(Delay), Since)
    end.

%% A failed eredis:start_link also sends us its exit signal (maybe after it returns): trap
%% it for the attempt and wait for it; a shutdown from the parent meanwhile is obeyed.
connect_trapped(Opts, Parent) ->
    process_flag(trap_exit, true),
    Result = case connect(Opts) of
                 {ok, C} -> {ok, read_buffer(C)};
                 Error -> Error
             end,
    case Result of
        {ok, _} -> ok;
        {error, _} -> receive {'EXIT', P, _} when P =/= Parent -> ok after 1000 -> ok end
    end,
    process_flag(trap_exit, false),
    receive {'EXIT', Parent, Why} -> exit(Why) after 0 -> ok end,
    Result.

probe(#{redis_url := Url}) ->
    case parse_url(Url) of
        {ok, Host, Port, _Db, _Password} ->
            case gen_tcp:connect(Host, Port, [binary, {active, false}], 1000) of
                {ok, S} -> gen_tcp:close(S);
                {error, _} = Error -> Error
            end;
        {error, _} = Error ->
            Error
    end.

%% @doc The reconnect delay after `Delay' ms: doubled, at most 2 s.
-spec next_delay(pos_integer()) -> pos_integer().
next_delay(Delay) ->
    min(2 * Delay, ?BACKOFF_MAX_MS).

loop(C, Queue, Processing, Handler) ->
    case query(C, [<<"BLMOVE">>, Queue, Processing, <<"RIGHT">>, <<"LEFT">>, ?BLOCK_S]) of
        {ok, undefined} ->
            ok;
        {ok, Message} ->
            Commands = Handler(Message) ++ [[<<"LREM">>, Processing, <<"1">>, Message]],
            pipeline(C, Commands)
    end,
    loop(C, Queue, Processing, Handler).

%% One command; a lost connection ends the worker (its supervisor restarts it).
query(C, Command) ->
    case catch eredis:q(C, Command, ?CALL_TIMEOUT_MS) of
        {ok, _} = Ok -> Ok;
        Other -> lost(Other)
    end.

%% Commands in one pipeline; redis refusing one (e.g. a reply key of the wrong type: the
%% client's bug) is logged; a lost connection ends the worker.
pipeline(C, Commands) ->
    case catch eredis:qp(C, Commands, ?CALL_TIMEOUT_MS) of
        Results when is_list(Results) ->
            [logger:warning("redis refused ~s: ~s", [hd(Cmd), Why])
             || {{error, Why}, Cmd} <- lists:zip(Results, Commands), is_binary(Why)],
            case [R || {error, R} <- Results, not is_binary(R)] of
                [] -> ok;
                [R | _] -> lost({error, R})
            end;
        Other ->
            lost(Other)
    end.

-spec lost(term()) -> no_return().
lost({error, Why}) when is_binary(Why) ->
    %% An error reply to a blocking or recovery command means the queue key is unusable.
    exit({redis_refused, Why});
lost(Other) ->
    exit({shutdown, {redis_lost, Other}}).

%% @doc The commands that answer one queue message: the reply (with expiry) or, for a header
%% that cannot be parsed, the message pushed to `<queue>:dead'. Pure: no I/O but logging.
-spec answer(binary(), binary()) -> [command()].
answer(Message, Dead) ->
    case parse_header(Message) of
        {ok, Op, Id, ReplyKey, Body} ->
            {Status, ReplyBody} = case bench_ops:run(Op, Body) of
                                      {ok, Out} -> {<<"ok">>, Out};
                                      {error, Code, Text} ->
                                          {<<"error">>, bench_ops:error_body(Code, Text)}
                                  end,
            Reply = iolist_to_binary([Status, $\s, Id, $\n, ReplyBody]),
            [[<<"LPUSH">>, ReplyKey, Reply], [<<"EXPIRE">>, ReplyKey, ?REPLY_TTL_S]];
        {error, Why} ->
            logger:warning("redis: message to ~s: ~s", [Dead, Why]),
            [[<<"LPUSH">>, Dead, Message]]
    end.

%% @doc `<op> <request-id> <reply-key>\n<body>': a `\n' within the first 1024 bytes, an
%% ASCII header, exactly three non-empty fields separated by single spaces.
-spec parse_header(binary()) -> {ok, binary(), binary(), binary(), binary()}
                              | {error, binary()}.
parse_header(Message) ->
    Scope = {0, min(byte_size(Message), ?MAX_HEADER)},
    case binary:match(Message, <<"\n">>, [{scope, Scope}]) of
        nomatch ->
            {error, <<"no newline in the first 1024 bytes">>};
        {Pos, 1} ->
            <<Header:Pos/binary, $\n, Body/binary>> = Message,
            case is_ascii(Header) of
                false ->
                    {error, <<"header is not ASCII">>};
                true ->
                    case binary:split(Header, <<" ">>, [global]) of
                        [Op, Id, Key] when Op =/= <<>>, Id =/= <<>>, Key =/= <<>> ->
                            {ok, Op, Id, Key, Body};
                        _ ->
                            {error, <<"header is not three fields separated by single spaces">>}
                    end
            end
    end.

is_ascii(Bin) ->
    lists:all(fun(C) -> C < 128 end, binary_to_list(Bin)).

processing(Queue) -> <<Queue/binary, ":processing">>.
%% @doc The dead list of `Queue'.
-spec dead(binary()) -> binary().
dead(Queue) -> <<Queue/binary, ":dead">>.

%% @doc A new eredis connection to the URL in the options (linked, no reconnection).
-spec connect(#{redis_url := string(), _ => _}) -> {ok, pid()} | {error, term()}.
connect(#{redis_url := Url}) ->
    case parse_url(Url) of
        {ok, Host, Port, Db, Password} ->
            eredis:start_link(Host, Port, Db, Password, no_reconnect);
        {error, _} = Error ->
            Error
    end.

%% A consumer's connection reads up to 64 KiB at a time (connect/1 itself, which the Erlang
%% caller also uses, is left as eredis makes it).
%% eredis 1.2.0 takes no socket options, and its socket reads at most the default 1460 bytes
%% per {active, once} message: an 87 KiB Celery message came as 60 messages, each re-armed
%% and re-parsed. The socket is the port linked to the client process; a larger buffer makes
%% that a few reads.
read_buffer(C) ->
    {links, Links} = process_info(C, links),
    [ok = inet:setopts(Port, [{buffer, 65536}]) || Port <- Links, is_port(Port)],
    C.

%% @doc redis://[:password@]host:port[/db] as {ok, Host, Port, Db, Password}.
-spec parse_url(string()) -> {ok, string(), inet:port_number(), non_neg_integer(), string()}
                                | {error, {bad_redis_url, string()}}.
parse_url(Url) ->
    case uri_string:parse(Url) of
        #{scheme := "redis", host := Host} = U ->
            Port = maps:get(port, U, 6379),
            Db = case string:trim(maps:get(path, U, ""), leading, "/") of
                     "" -> 0;
                     D -> list_to_integer(D)
                 end,
            Password = case maps:get(userinfo, U, "") of
                           "" -> "";
                           Info -> lists:last(string:split(Info, ":"))
                       end,
            {ok, Host, Port, Db, Password};
        _ ->
            {error, {bad_redis_url, Url}}
    end.
