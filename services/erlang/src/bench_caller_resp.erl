%% @doc The caller's Redis client: RESP2 over a passive gen_tcp socket, in the user's own
%% process. A request is one write of `CLIENT REPLY SKIP', `LPUSH queue message' and
%% `BRPOP key timeout' (a pipeline, as the Python caller's resp.py sends LPUSH and BRPOP)
%% and one read: the LPUSH's reply, which would come at once and cost a wake-up of its
%% own, is not sent (the service sees the same commands). eredis, the library an
%% application would use, costs a gen_server hop and its own parser per command (README.md
%% "The caller" has the measurement).
-module(bench_caller_resp).

-export([connect/2, push_pop/5, pop/4, command/1, parse/1]).
-export_type([value/0]).

-type value() :: binary() | integer() | nil | {error, binary()} | [value()].

%% @doc Connects to `redis://host:port/db' (AUTH and SELECT when the URL asks for them).
-spec connect(string(), pos_integer()) -> {ok, gen_tcp:socket()} | {error, term()}.
connect(Url, TimeoutMs) ->
    case bench_redis:parse_url(Url) of
        {ok, Host, Port, Db, Password} ->
            case gen_tcp:connect(Host, Port, [binary, {active, false}, {nodelay, true},
                                              {packet, raw}], TimeoutMs) of
                {ok, Sock} ->
                    Setup = [[<<"AUTH">>, list_to_binary(Password)] || Password =/= ""]
                        ++ [[<<"SELECT">>, integer_to_binary(Db)] || Db =/= 0]
                        %% +OK where CLIENT REPLY exists (Redis 3.2 and later)
                        ++ [[<<"CLIENT">>, <<"REPLY">>, <<"ON">>]],
                    case setup(Sock, Setup, TimeoutMs) of
                        ok -> {ok, Sock};
                        {error, _} = E -> gen_tcp:close(Sock), E
                    end;
                {error, _} = E -> E
            end;
        {error, _} = E -> E
    end.

setup(_Sock, [], _TimeoutMs) -> ok;
setup(Sock, [Cmd | Rest], TimeoutMs) ->
    ok = gen_tcp:send(Sock, command(Cmd)),
    case read(Sock, <<>>, TimeoutMs) of
        {ok, {error, Why}, _} when Cmd =:= [<<"CLIENT">>, <<"REPLY">>, <<"ON">>] ->
            {error, {redis_without_client_reply, Why, needs, "redis-server 3.2 or later"}};
        {ok, {error, Why}, _} -> {error, {redis, hd(Cmd), Why}};
        {ok, _, _} -> setup(Sock, Rest, TimeoutMs);
        {error, _} = E -> E
    end.

%% @doc LPUSH (its reply skipped) then BRPOP (blocking `BlockS', a decimal string), in one
%% write. Returns the popped element, `nil' when BRPOP timed out, or an error.
-spec push_pop(gen_tcp:socket(), {iodata(), binary()}, iodata(), binary(), pos_integer()) ->
          {ok, binary() | nil} | {error, term()}.
push_pop(Sock, {PushHead, Key}, Msg, BlockS, RecvMs) ->
    Cmds = [<<"*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$4\r\nSKIP\r\n">>, PushHead, bulk(Msg),
            brpop(Key, BlockS)],
    case gen_tcp:send(Sock, Cmds) of
        ok -> popped(Sock, <<>>, Key, RecvMs);
        {error, _} = E -> E
    end.

%% @doc BRPOP alone (the next reply after a stale one).
-spec pop(gen_tcp:socket(), binary(), binary(), pos_integer()) -> {ok, binary() | nil} | {error, term()}.
pop(Sock, Key, BlockS, RecvMs) ->
    case gen_tcp:send(Sock, brpop(Key, BlockS)) of
        ok -> popped(Sock, <<>>, Key, RecvMs);
        {error, _} = E -> E
    end.

popped(Sock, Buf, Key, RecvMs) ->
    case read(Sock, Buf, RecvMs) of
        {ok, [Key, Value], _} -> {ok, Value};
        {ok, nil, _} -> {ok, nil};
        %% an LPUSH that failed is silent (its reply skipped); BRPOP then times out
        {ok, Other, _} -> {error, {brpop, Other}};
        {error, _} = E -> E
    end.

%% @doc A command as a RESP array of bulk strings.
-spec command([iodata()]) -> iodata().
command(Args) ->
    [$*, integer_to_binary(length(Args)), <<"\r\n">> | [bulk(A) || A <- Args]].

bulk(A) ->
    [$$, integer_to_binary(iolist_size(A)), <<"\r\n">>, A, <<"\r\n">>].

brpop(Key, BlockS) ->
    [<<"*3\r\n$5\r\nBRPOP\r\n">>, bulk(Key), bulk(BlockS)].

read(Sock, Buf, RecvMs) ->
    case parse(Buf) of
        {ok, Value, Rest} -> {ok, Value, Rest};
        more ->
            case gen_tcp:recv(Sock, 0, RecvMs) of
                {ok, Data} -> read(Sock, <<Buf/binary, Data/binary>>, RecvMs);
                {error, Why} -> {error, {recv, Why}}
            end;
        {error, _} = E -> E
    end.

%% @doc One RESP2 value from the front of a buffer: `{ok, Value, Rest}', `more' when it is
%% incomplete, or an error for a type byte RESP2 does not have.
-spec parse(binary()) -> {ok, value(), binary()} | more | {error, term()}.
parse(<<$:, Rest/binary>>) -> line(Rest, fun binary_to_integer/1);
parse(<<$+, Rest/binary>>) -> line(Rest, fun(L) -> L end);
parse(<<$-, Rest/binary>>) -> line(Rest, fun(L) -> {error, L} end);
parse(<<$$, Rest/binary>>) ->
    case line(Rest, fun binary_to_integer/1) of
        {ok, -1, Rest1} -> {ok, nil, Rest1};
        {ok, N, Rest1} ->
            case Rest1 of
                <<Bin:N/binary, "\r\n", Rest2/binary>> -> {ok, Bin, Rest2};
                _ when byte_size(Rest1) < N + 2 -> more;
                _ -> {error, bad_bulk_string_end}
            end;
        Other -> Other
    end;
parse(<<$*, Rest/binary>>) ->
    case line(Rest, fun binary_to_integer/1) of
        {ok, -1, Rest1} -> {ok, nil, Rest1};
        {ok, N, Rest1} -> elements(N, Rest1, []);
        Other -> Other
    end;
parse(<<>>) -> more;
parse(<<C, _/binary>>) -> {error, {bad_resp_type, C}}.

elements(0, Rest, Acc) -> {ok, lists:reverse(Acc), Rest};
elements(N, Buf, Acc) ->
    case parse(Buf) of
        {ok, V, Rest} -> elements(N - 1, Rest, [V | Acc]);
        Other -> Other
    end.

line(Buf, Convert) ->
    case binary:match(Buf, <<"\r\n">>) of
        {Pos, 2} ->
            <<Line:Pos/binary, "\r\n", Rest/binary>> = Buf,
            case catch Convert(Line) of
                {'EXIT', _} -> {error, {bad_resp_line, binary:part(Line, 0, min(40, Pos))}};
                V -> {ok, V, Rest}
            end;
        nomatch -> more
    end.
