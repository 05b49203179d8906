%% @doc The celery transport: N consumers of Celery's Redis queue `bench.erlang', each with
%% its own eredis connection for the blocking BLMOVE. At-least-once: a message is moved to
%% `<queue>:processing', run, its result stored and published, and only then removed
%% (SET + PUBLISH + LREM in one pipeline). Recovery of `<queue>:processing' runs once,
%% before the consumers start (bench_redis:recover/1, a start-only child of bench_sup).
%% Envelope decoding and result documents are in bench_celery_proto (pure).
-module(bench_celery).

-export([start_consumer/2, consumer/3, handle/2]).

-type opts() :: #{redis_url := string(), queue := binary(),
                  result_expires := pos_integer(), _ => _}.
-type outcome() :: {store, binary(), binary()} | {ack, binary()} | {dead, binary()}.

-define(BLOCK_S, <<"1">>).            % BLMOVE timeout, seconds
-define(CALL_TIMEOUT_MS, 5000).       % eredis call timeout; above the BLMOVE timeout

%% @doc Starts consumer number `N'.
-spec start_consumer(opts(), pos_integer()) -> {ok, pid()} | {error, term()}.
start_consumer(Opts, N) ->
    proc_lib:start_link(?MODULE, consumer, [Opts, N, self()]).

%% @doc A consumer: its own connection; BLMOVE, run, store + publish + LREM.
-spec consumer(opts(), pos_integer(), pid()) -> no_return().
consumer(#{queue := Queue, result_expires := Expires} = Opts, _N, Parent) ->
    case bench_redis:connect(Opts) of
        {ok, C} ->
            proc_lib:init_ack(Parent, {ok, self()}),
            loop(C, Queue, <<Queue/binary, ":processing">>, <<Queue/binary, ":dead">>,
                 integer_to_binary(Expires));
        {error, Reason} ->
            proc_lib:init_ack(Parent, {error, {redis_connect, Reason}}),
            exit({redis_connect, Reason})
    end.

loop(C, Queue, Processing, Dead, Expires) ->
    case eredis:q(C, [<<"BLMOVE">>, Queue, Processing, <<"RIGHT">>, <<"LEFT">>, ?BLOCK_S],
                  ?CALL_TIMEOUT_MS) of
        {ok, undefined} ->
            ok;
        {ok, Message} ->
            serve(C, Processing, Dead, Expires, Message)
        %% Any other answer (connection lost) crashes the consumer; its supervisor
        %% restarts it with a fresh connection. Its message stays in `:processing'.
    end,
    loop(C, Queue, Processing, Dead, Expires).

serve(C, Processing, Dead, Expires, Message) ->
    Remove = [<<"LREM">>, Processing, <<"1">>, Message],
    case handle(Message, os:system_time(microsecond)) of
        {store, Key, Doc} ->
            [{ok, _}, {ok, _}, {ok, _}] =
                eredis:qp(C, [[<<"SET">>, Key, Doc, <<"EX">>, Expires],
                              [<<"PUBLISH">>, Key, Doc],
                              Remove], ?CALL_TIMEOUT_MS);
        {ack, _Id} ->
            {ok, _} = eredis:q(C, Remove, ?CALL_TIMEOUT_MS);
        {dead, Why} ->
            logger:warning("celery: message to ~s: ~s", [Dead, Why]),
            [{ok, _}, {ok, _}] =
                eredis:qp(C, [[<<"LPUSH">>, Dead, Message], Remove], ?CALL_TIMEOUT_MS)
    end,
    ok.

%% @doc What to do with one message at system time `NowUs' (microseconds): store a result
%% document under a key (and publish it on the channel of that name), only acknowledge (a
%% task sent with `ignore_result'), or move it to the dead list.
-spec handle(binary(), integer()) -> outcome().
handle(Message, NowUs) ->
    case bench_celery_proto:decode(Message) of
        {ok, #{id := Id, task := Name} = Meta, Args, Kwargs} ->
            Doc = case bench_celery_proto:call(Name, Args, Kwargs) of
                      {ok, Call} ->
                          case bench_ops:safely(Name, fun() -> run(Call) end) of
                              {ok, Json} ->
                                  bench_celery_proto:success(Meta, Json, date(NowUs));
                              {error, Code, Text} ->
                                  bench_celery_proto:failure(Meta, Code, Text, date(NowUs))
                          end;
                      {bad_request, Text} ->
                          bench_celery_proto:failure(Meta, bad_request, Text, date(NowUs));
                      not_registered ->
                          bench_celery_proto:not_registered(Meta, date(NowUs))
                  end,
            store(Meta, Id, Doc);
        {bad, #{id := Id} = Meta, Why} ->
            store(Meta, Id, bench_celery_proto:failure(Meta, bad_request, Why, date(NowUs)));
        {dead, Why} ->
            {dead, Why}
    end.

store(#{ignore_result := true}, Id, _Doc) ->
    {ack, Id};
store(_Meta, Id, Doc) ->
    {store, bench_celery_proto:result_key(Id), iolist_to_binary(Doc)}.

date(NowUs) ->
    bench_celery_proto:date_done(NowUs).

%% An operation's result as JSON (iodata).
run({echo, Text}) ->
    case bench_ops:echo_text(Text) of
        {ok, Same} -> {ok, jiffy:encode(Same)};
        {error, _, _} = Error -> Error
    end;
run({diff, A, B}) ->
    case bench_ops:diff_tokens(A, B) of
        {ok, Opcodes} -> {ok, bench_json:encode_opcode_list(Opcodes)};
        {error, _, _} = Error -> Error
    end;
run(health) ->
    {ok, bench_ops:health_body()}.
