%% @doc The celery transport: N consumers of Celery's Redis queue `bench.erlang', each with
%% its own eredis connection for the blocking BLMOVE. At-least-once: a message is moved to
%% `<queue>:processing', run, its result stored and published, and only then removed
%% (SET + PUBLISH + LREM in one pipeline). Recovery of `<queue>:processing' runs once,
%% before the consumers start (bench_redis:recover/1, a start-only child of bench_sup), and
%% again in a consumer restarted after a lost connection (bench_redis:consumer/4).
%% Envelope decoding and result documents are in bench_celery_proto (pure).
-module(bench_celery).

-export([start_consumer/2, commands/3, handle/2]).

-type opts() :: #{redis_url := string(), queue := binary(),
                  result_expires := pos_integer(), _ => _}.
-type outcome() :: {store, binary(), binary()} | {ack, binary()} | {dead, binary()}.

%% @doc Starts consumer number `N' (bench_redis's consumer loop, reconnects included).
-spec start_consumer(opts(), pos_integer()) -> {ok, pid()}.
start_consumer(#{queue := Queue, result_expires := Expires} = Opts, N) ->
    Dead = bench_redis:dead(Queue),
    ExpiresBin = integer_to_binary(Expires),
    bench_redis:start_consumer(Opts, N, fun(Message) -> commands(Message, Dead, ExpiresBin) end).

%% @doc The commands that answer one task message (before its LREM): store and publish the
%% result, nothing (`ignore_result'), or push it to the dead list.
-spec commands(binary(), binary(), binary()) -> [bench_redis:command()].
commands(Message, Dead, Expires) ->
    case handle(Message, os:system_time(microsecond)) of
        {store, Key, Doc} ->
            [[<<"SET">>, Key, Doc, <<"EX">>, Expires], [<<"PUBLISH">>, Key, Doc]];
        {ack, _Id} ->
            [];
        {dead, Why} ->
            logger:warning("celery: message to ~s: ~s", [Dead, Why]),
            [[<<"LPUSH">>, Dead, Message]]
    end.

%% @doc What to do with one message at system time `NowUs' (microseconds): store a result
%% document under a key (and publish it on the channel of that name), only acknowledge (a
%% task sent with `ignore_result'), or move it to the dead list.
-spec handle(binary(), integer()) -> outcome().
handle(Message, NowUs) ->
    case bench_celery_proto:decode(Message) of
        {ok, #{id := Id, task := Name} = Meta, Args, Kwargs} ->
            Doc = case bench_celery_proto:call(Name, Args, Kwargs) of
                      {ok, Call} ->
                          case bench_ops:safely(Name, fun() -> run(Call, Meta) end) of
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
run({echo, Text}, #{plain := Plain}) ->
    case bench_ops:echo_text(Text) of
        {ok, Same} -> {ok, bench_json:encode_string(Same, Plain)};
        {error, _, _} = Error -> Error
    end;
run({diff, A, B}, _Meta) ->
    case bench_ops:diff_tokens(A, B) of
        {ok, Opcodes} -> {ok, bench_json:encode_opcode_list(Opcodes)};
        {error, _, _} = Error -> Error
    end;
run(health, _Meta) ->
    {ok, bench_ops:health_body()}.
