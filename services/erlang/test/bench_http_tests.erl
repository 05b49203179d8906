%% @doc bench_http over a real socket: regressions found by the fuzzer (harness fuzz -t http).
-module(bench_http_tests).
-include_lib("eunit/include/eunit.hrl").

%% -- pure helpers --------------------------------------------------------------------------

parse_chunk_size_test() ->
    ?assertEqual({ok, 0}, bench_http:parse_chunk_size(<<"0">>)),
    ?assertEqual({ok, 255}, bench_http:parse_chunk_size(<<"fF">>)),
    ?assertEqual({ok, 16}, bench_http:parse_chunk_size(<<"10;ext=1">>)),
    ?assertEqual({ok, 16#ffffffffffffffff}, bench_http:parse_chunk_size(<<"ffffffffffffffff">>)),
    ?assertEqual(error, bench_http:parse_chunk_size(<<"ffffffffffffffffff">>)),
    ?assertEqual(error, bench_http:parse_chunk_size(<<"">>)),
    ?assertEqual(error, bench_http:parse_chunk_size(<<"-1">>)),
    ?assertEqual(error, bench_http:parse_chunk_size(<<"0x10">>)),
    ?assertEqual(error, bench_http:parse_chunk_size(<<"zz">>)).

transfer_encoding_test() ->
    ?assertEqual(none, bench_http:transfer_encoding(undefined)),
    ?assertEqual(chunked, bench_http:transfer_encoding("Chunked")),
    ?assertEqual(bad, bench_http:transfer_encoding("xchunked")),
    ?assertEqual(bad, bench_http:transfer_encoding("gzip, chunked")),
    ?assertEqual(bad, bench_http:transfer_encoding("")).

keep_alive_test() ->
    %% RFC 9112 section 9.3: 1.1 persists unless `close', 1.0 only with `keep-alive'
    ?assert(bench_http:keep_alive({1, 1}, undefined)),
    ?assert(bench_http:keep_alive({1, 1}, "Keep-Alive")),
    ?assertNot(bench_http:keep_alive({1, 1}, "close")),
    ?assertNot(bench_http:keep_alive({1, 1}, "keep-alive, Close")),
    ?assertNot(bench_http:keep_alive({1, 0}, undefined)),
    ?assert(bench_http:keep_alive({1, 0}, "Keep-Alive")),   % what ab -k sends
    ?assert(bench_http:keep_alive({1, 0}, "keep-alive")),   % what curl -H sends
    ?assert(bench_http:keep_alive({1, 0}, "TE, keep-alive")),
    ?assertNot(bench_http:keep_alive({1, 0}, "keep-alive, close")),
    ?assertNot(bench_http:keep_alive({0, 9}, "keep-alive")).

%% -- over a socket -------------------------------------------------------------------------

socket_test_() ->
    {setup, fun start/0, fun stop/1,
     fun(Port) ->
             [{"garbage without a blank line, then EOF: closed or 400 at once",
               fun() -> garbage_eof(Port) end},
              {"Transfer-Encoding: xchunked is 400 with a JSON body",
               fun() -> xchunked(Port) end},
              {"an 18-digit chunk size is 400",
               fun() -> huge_chunk(Port) end},
              {"a chunk over the body limit is 413",
               fun() -> chunk_over_limit(Port) end},
              {"a malformed chunk size is 400",
               fun() -> bad_chunk(Port) end},
              {"a chunked echo still works, and keeps the connection",
               fun() -> chunked_echo(Port) end},
              {"a body shorter than its Content-Length, then EOF: closed, never 500",
               fun() -> short_body(Port) end},
              {"a status line where a request line belongs is 400",
               fun() -> status_line(Port) end},
              {"an unfinished header section is closed after the header timeout",
               {timeout, 20, fun() -> header_timeout(Port) end}},
              {"HTTP/1.0 with Connection: Keep-Alive (ab -k) is announced and kept",
               fun() -> http10_keep_alive(Port) end},
              {"HTTP/1.0 without keep-alive, and 1.1 with close, are answered and closed",
               fun() -> http10_close(Port) end},
              {"a request line dribbled a byte at a time is closed within two header timeouts",
               {timeout, 30, fun() -> slow_request_line(Port) end}},
              {"a connection idle past a header timeout, then a request in two parts, is served",
               {timeout, 30, fun() -> idle_then_split_request(Port) end}},
              {"requests sent as a slice of the idle wait ends, with their bodies, are served",
               {timeout, 60, fun() -> requests_at_the_slice_end(Port) end}}]
     end}.

start() ->
    bench_vectors:init_ops(false),
    process_flag(trap_exit, true),
    {ok, Pid} = bench_http:start_link(#{host => {127, 0, 0, 1}, port => 0, acceptors => 4}),
    unlink(Pid),
    mochiweb_socket_server:get(bench_http, port).

stop(_Port) ->
    mochiweb_socket_server:stop(bench_http).

exchange(Port, Data) ->
    {ok, S} = gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}]),
    ok = gen_tcp:send(S, Data),
    ok = gen_tcp:shutdown(S, write),
    Reply = read_all(S, <<>>, erlang:monotonic_time(millisecond) + 3000),
    gen_tcp:close(S),
    Reply.

read_all(S, Acc, Deadline) ->
    Left = Deadline - erlang:monotonic_time(millisecond),
    case Left > 0 andalso gen_tcp:recv(S, 0, Left) of
        {ok, Data} -> read_all(S, <<Acc/binary, Data/binary>>, Deadline);
        {error, closed} -> {closed, Acc};
        {error, econnreset} -> {closed, Acc};
        _ -> {timeout, Acc}
    end.

status(<<"HTTP/1.1 ", Code:3/binary, _/binary>>) -> binary_to_integer(Code).

json_error(Reply) ->
    [_, Body] = binary:split(Reply, <<"\r\n\r\n">>),
    maps:get(<<"error">>, jiffy:decode(Body, [return_maps])).

garbage_eof(Port) ->
    {How, Reply} = exchange(Port, <<16#cc, 16#90, 16#a2, "\n", "y \xd8 garbage with no blank line">>),
    ?assertEqual(closed, How),
    ?assert(Reply =:= <<>> orelse status(Reply) =:= 400),
    %% No newline at all: the EOF alone must end it.
    ?assertMatch({closed, _}, exchange(Port, <<"\xcc\x90 no newline at all">>)),
    ?assertMatch({closed, _}, exchange(Port, <<"POST /echo HTTP/1.1\r\nHost: x\r\n">>)).

xchunked(Port) ->
    {closed, Reply} = exchange(Port, <<"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n"
                                       "Content-Length: 3\r\n\r\nabc">>),
    ?assertEqual(400, status(Reply)),
    ?assertEqual(<<"bad_request">>, json_error(Reply)).

huge_chunk(Port) ->
    {closed, Reply} = exchange(Port, <<"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                                       "ffffffffffffffffff\r\nab\r\n">>),
    ?assertEqual(400, status(Reply)),
    ?assertEqual(<<"bad_request">>, json_error(Reply)).

chunk_over_limit(Port) ->
    {closed, Reply} = exchange(Port, <<"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                                       "ffffffffffffffff\r\nab\r\n">>),
    ?assertEqual(413, status(Reply)),
    ?assertEqual(<<"too_large">>, json_error(Reply)).

bad_chunk(Port) ->
    {closed, Reply} = exchange(Port, <<"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                                       "zz\r\nab\r\n0\r\n\r\n">>),
    ?assertEqual(400, status(Reply)),
    {closed, Reply2} = exchange(Port, <<"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                                        "2\r\nabXY0\r\n\r\n">>),
    ?assertEqual(400, status(Reply2)).

chunked_echo(Port) ->
    Req = <<"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            "3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: 1\r\n\r\n">>,
    {closed, Reply} = exchange(Port, <<Req/binary, Req/binary>>),
    ?assertEqual(200, status(Reply)),
    ?assertEqual(2, length(binary:matches(Reply, <<"HTTP/1.1 200">>))),
    ?assertEqual(2, length(binary:matches(Reply, <<"\r\n\r\nabcde">>))).

status_line(Port) ->
    {closed, Reply} = exchange(Port, <<"HTTP/1.1 200 OK\r\n\r\n">>),
    ?assertEqual(400, status(Reply)).

header_timeout(Port) ->
    {ok, S} = gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}]),
    ok = gen_tcp:send(S, <<"POST /echo HTTP/1.1\r\nHost: x\r\n">>),
    T0 = erlang:monotonic_time(millisecond),
    Result = gen_tcp:recv(S, 0, 9000),
    Took = erlang:monotonic_time(millisecond) - T0,
    gen_tcp:close(S),
    ?assertEqual({error, closed}, Result),
    ?assert(Took < 8000).

short_body(Port) ->
    {closed, Reply} = exchange(Port, <<"POST /diff HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\nhello">>),
    ?assertEqual(<<>>, Reply).

%% One response read by its Content-Length from a socket that stays open.
response(S) ->
    {ok, Head0} = gen_tcp:recv(S, 0, 3000),
    read_response(S, Head0).

read_response(S, Acc) ->
    case binary:split(Acc, <<"\r\n\r\n">>) of
        [Head, Rest] ->
            {match, [Len]} = re:run(Head, "(?i)content-length: *([0-9]+)", [{capture, all_but_first, binary}]),
            N = binary_to_integer(Len),
            Body = read_body(S, Rest, N),
            {Head, Body};
        [_] ->
            {ok, More} = gen_tcp:recv(S, 0, 3000),
            read_response(S, <<Acc/binary, More/binary>>)
    end.

read_body(_S, Got, N) when byte_size(Got) >= N ->
    ?assertEqual(N, byte_size(Got)),
    Got;
read_body(S, Got, N) ->
    {ok, More} = gen_tcp:recv(S, 0, 3000),
    read_body(S, <<Got/binary, More/binary>>, N).

%% Header is "\r\nName: value\r\n"; Head may or may not end with the blank line.
has_header(Head, Header) ->
    binary:match(string:lowercase(<<Head/binary, "\r\n">>), string:lowercase(Header)) =/= nomatch.

http10_keep_alive(Port) ->
    {ok, S} = gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}]),
    Req = <<"POST /echo HTTP/1.0\r\nConnection: Keep-Alive\r\nContent-Length: 5\r\n\r\nhello">>,
    ok = gen_tcp:send(S, Req),
    {Head1, Body1} = response(S),
    ?assertEqual(<<"hello">>, Body1),
    ?assert(has_header(Head1, <<"\r\nConnection: keep-alive\r\n">>)),
    %% the same connection serves the next request (ab waited here for a close that never came)
    ok = gen_tcp:send(S, <<"GET /health HTTP/1.0\r\nconnection: keep-alive\r\n\r\n">>),
    {Head2, _} = response(S),
    ?assertEqual(200, status(Head2)),
    ?assert(has_header(Head2, <<"\r\nConnection: keep-alive\r\n">>)),
    gen_tcp:close(S).

http10_close(Port) ->
    {closed, Reply} = exchange_open(Port, <<"POST /echo HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi">>),
    ?assertEqual(200, status(Reply)),
    ?assert(has_header(Reply, <<"\r\nConnection: close\r\n">>)),
    {closed, Reply2} = exchange_open(Port, <<"GET /health HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, close\r\n\r\n">>),
    ?assertEqual(200, status(Reply2)),
    ?assert(has_header(Reply2, <<"\r\nConnection: close\r\n">>)).

%% Like exchange/2, but without the half-close: the server must close by itself.
exchange_open(Port, Data) ->
    {ok, S} = gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}]),
    ok = gen_tcp:send(S, Data),
    Reply = read_all(S, <<>>, erlang:monotonic_time(millisecond) + 3000),
    gen_tcp:close(S),
    Reply.

slow_request_line(Port) ->
    {ok, S} = gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}]),
    T0 = erlang:monotonic_time(millisecond),
    Result = dribble(S, <<"POST /echo", (binary:copy(<<"a">>, 500))/binary>>, T0 + 15000),
    Took = erlang:monotonic_time(millisecond) - T0,
    gen_tcp:close(S),
    ?assertEqual(closed, Result),
    ?assert(Took < 11000).

dribble(S, <<Byte:1/binary, Rest/binary>>, Deadline) ->
    case erlang:monotonic_time(millisecond) > Deadline of
        true -> open;
        false ->
            _ = gen_tcp:send(S, Byte),
            case gen_tcp:recv(S, 0, 200) of
                {error, timeout} -> dribble(S, Rest, Deadline);
                {error, _} -> closed;
                {ok, _} -> answered
            end
    end;
dribble(_S, <<>>, _Deadline) -> open.

%% The quiet-connection path (raw mode, then the bytes handed back to the http parser) with a
%% request line split across two writes: handed back while partial, it once closed the socket.
idle_then_split_request(Port) ->
    {ok, S} = gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}]),
    timer:sleep(5500),   % past one 5 s slice: the service is now waiting in raw mode
    ok = gen_tcp:send(S, <<"GET /hea">>),
    timer:sleep(300),    % the first part is read alone
    ok = gen_tcp:send(S, <<"lth HTTP/1.1\r\nHo">>),
    timer:sleep(300),
    ok = gen_tcp:send(S, <<"st: x\r\n\r\n">>),
    {Head, _} = response(S),
    ?assertEqual(200, status(Head)),
    %% and the connection goes on in {packet, http}
    ok = gen_tcp:send(S, <<"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nok">>),
    ?assertMatch({_, <<"ok">>}, response(S)),
    gen_tcp:close(S).

%% A whole POST in one write (head and body handed back to the socket together), sent when the
%% service's 5 s slice ends: a request line parsed as the slice timed out was once left in the
%% mailbox while the raw-mode read took the rest. Several sends around 5 s, then one past it.
requests_at_the_slice_end(Port) ->
    Parent = self(),
    Waits = [4990, 4995, 4998, 5000, 5002, 5005, 5600],
    Pids = [spawn(fun() -> Parent ! {self(), catch slice_end_request(Port, W)} end) || W <- Waits],
    ?assertEqual([{W, ok} || W <- Waits], [{W, receive {P, R} -> R end} || {W, P} <- lists:zip(Waits, Pids)]).

slice_end_request(Port, WaitMs) ->
    {ok, S} = gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}]),
    timer:sleep(WaitMs),
    ok = gen_tcp:send(S, <<"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nslice">>),
    {_, <<"slice">>} = response(S),
    gen_tcp:close(S).
