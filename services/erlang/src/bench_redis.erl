%% @doc The redis transport: a reliable list queue served by several workers, each with
%% its own eredis connection for the blocking BLMOVE. Recovery of `<queue>:processing'
%% runs once, before the workers start (a child of bench_sup that returns `ignore').
-module(bench_redis).

-export([recover/1, start_worker/2, worker/3, parse_header/1, connect/1, parse_url/1]).

-type opts() :: #{redis_url := string(), queue := binary(), _ => _}.

-define(BLOCK_S, <<"1">>).            % BLMOVE timeout, seconds
-define(CALL_TIMEOUT_MS, 5000).       % eredis call timeout; above the BLMOVE timeout
-define(REPLY_TTL_S, <<"60">>).
-define(MAX_HEADER, 1024).

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
    case eredis:q(C, [<<"LMOVE">>, Processing, Queue, <<"RIGHT">>, <<"RIGHT">>]) of
        {ok, undefined} -> N;
        {ok, _Message} -> recover_loop(C, Queue, Processing, N + 1)
    end.

%% @doc Starts worker number `N'.
-spec start_worker(opts(), pos_integer()) -> {ok, pid()}.
start_worker(Opts, N) ->
    proc_lib:start_link(?MODULE, worker, [Opts, N, self()]).

%% @doc A worker: its own connection; BLMOVE, compute, reply with expiry, LREM.
-spec worker(opts(), pos_integer(), pid()) -> no_return().
worker(#{queue := Queue} = Opts, _N, Parent) ->
    case connect(Opts) of
        {ok, C} ->
            proc_lib:init_ack(Parent, {ok, self()}),
            loop(C, Queue, processing(Queue), dead(Queue));
        {error, Reason} ->
            proc_lib:init_ack(Parent, {error, {redis_connect, Reason}}),
            exit({redis_connect, Reason})
    end.

loop(C, Queue, Processing, Dead) ->
    case eredis:q(C, [<<"BLMOVE">>, Queue, Processing, <<"RIGHT">>, <<"LEFT">>, ?BLOCK_S],
                  ?CALL_TIMEOUT_MS) of
        {ok, undefined} ->
            ok;
        {ok, Message} ->
            serve(C, Processing, Dead, Message)
        %% Any other answer (connection lost) crashes the worker; its supervisor
        %% restarts it with a fresh connection.
    end,
    loop(C, Queue, Processing, Dead).

serve(C, Processing, Dead, Message) ->
    Remove = [<<"LREM">>, Processing, <<"1">>, Message],
    case parse_header(Message) of
        {ok, Op, Id, ReplyKey, Body} ->
            {Status, ReplyBody} = case bench_ops:run(Op, Body) of
                                      {ok, Out} -> {<<"ok">>, Out};
                                      {error, Code, Text} ->
                                          {<<"error">>, bench_ops:error_body(Code, Text)}
                                  end,
            Reply = iolist_to_binary([Status, $\s, Id, $\n, ReplyBody]),
            [{ok, _}, {ok, _}, {ok, _}] =
                eredis:qp(C, [[<<"LPUSH">>, ReplyKey, Reply],
                              [<<"EXPIRE">>, ReplyKey, ?REPLY_TTL_S],
                              Remove], ?CALL_TIMEOUT_MS);
        {error, Why} ->
            logger:warning("redis: message to ~s: ~s", [Dead, Why]),
            [{ok, _}, {ok, _}] =
                eredis:qp(C, [[<<"LPUSH">>, Dead, Message], Remove], ?CALL_TIMEOUT_MS)
    end,
    ok.

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
