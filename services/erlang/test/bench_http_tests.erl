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
               {timeout, 20, fun() -> header_timeout(Port) end}}]
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
