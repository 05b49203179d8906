%% @doc The caller's clients, one per user: http (a gen_tcp HTTP/1.1 keep-alive client),
%% zmq (a ZMTP 3 DEALER over bench_zmtp), redis (LPUSH and BRPOP on the user's own reply
%% key, pipelined on our own RESP client bench_caller_resp, or eredis), grpc (unary calls on
%% bench_caller_grpc's HTTP/2 connection), celery (a protocol v2 task message LPUSHed as kombu's Redis transport writes
%% it, the result from the PUBLISH of Celery's Redis result backend, PSUBSCRIBEd once per
%% user to its own task-id prefix). `call/2' sends the cell's one request and returns the reply:
%% `{ok, Status, Body}' (Status `ok' or `error') or `{error, Reason}' when no reply came
%% (the client is then closed: the next call reconnects).
-module(bench_caller_client).

-export([open/2, call/2, close/1, check/3]).
-export_type([client/0]).

-record(c, {transport :: atom(), target :: map(), op :: binary(), body :: binary(),
            timeout_ms :: pos_integer(), conn = none :: term(), user :: pos_integer(),
            seq = 0 :: non_neg_integer(),
            head = <<>> :: iodata() | tuple() | bench_caller_grpc:req()}).

-opaque client() :: #c{}.

-define(CONNECT_MS, 2000).

%% @doc A client for the target of a config (not yet connected).
-spec open(map(), pos_integer()) -> client().
open(#{<<"target">> := T, <<"request">> := R, <<"timeout_s">> := TO}, User) ->
    Transport = case maps:get(<<"transport">>, T) of
                    <<"http">> -> http;
                    <<"zmq">> -> zmq;
                    <<"redis">> -> redis;
                    <<"celery">> -> celery;
                    <<"grpc">> -> grpc;
                    Other -> error({unsupported_transport, Other})
                end,
    Op = maps:get(<<"op">>, R),
    Body = maps:get(<<"body">>, R),
    C = #c{transport = Transport, target = T, op = Op, body = Body, user = User,
           timeout_ms = max(1, round(TO * 1000))},
    C#c{head = head(C)}.

head(#c{transport = http, target = T, op = Op, body = Body}) ->
    Host = maps:get(<<"host">>, T),
    Port = integer_to_binary(maps:get(<<"port">>, T)),
    [<<"POST /">>, Op, <<" HTTP/1.1\r\nHost: ">>, Host, $:, Port,
     <<"\r\nContent-Type: application/octet-stream\r\nContent-Length: ">>,
     integer_to_binary(byte_size(Body)), <<"\r\n\r\n">>];
head(#c{transport = zmq, op = Op, body = Body}) ->
    iolist_to_binary(bench_zmtp:encode_message([<<>>, Op, Body]));
head(#c{transport = celery, op = Op, body = Body, target = T}) ->
    Args = case Op of
               <<"echo">> -> [Body];
               <<"diff">> -> #{<<"a">> := A, <<"b">> := B} = jiffy:decode(Body, [return_maps]), [A, B]
           end,
    Embed = #{<<"callbacks">> => null, <<"errbacks">> => null, <<"chain">> => null, <<"chord">> => null},
    Payload = base64:encode(jiffy:encode([Args, #{}, Embed])),
    Queue = maps:get(<<"queue">>, T),
    %% The envelope around the task id (inserted at each `id'), keys in kombu's order.
    {[<<"{\"body\": \"">>, Payload, <<"\", \"content-encoding\": \"utf-8\", "
        "\"content-type\": \"application/json\", \"headers\": {\"lang\": \"py\", \"task\": \"bench.">>,
      Op, <<"\", \"id\": \"">>, id, <<"\", \"shadow\": null, \"eta\": null, \"expires\": null, "
        "\"group\": null, \"group_index\": null, \"retries\": 0, \"timelimit\": [null, null], "
        "\"root_id\": \"">>, id, <<"\", \"parent_id\": null, \"argsrepr\": \"\", \"kwargsrepr\": \"{}\", "
        "\"origin\": \"bench-erlang-caller\", \"ignore_result\": false}, \"properties\": "
        "{\"correlation_id\": \"">>, id, <<"\", \"reply_to\": \"\", \"delivery_mode\": 2, "
        "\"delivery_info\": {\"exchange\": \"\", \"routing_key\": ">>, jiffy:encode(Queue),
      <<"}, \"priority\": 0, \"body_encoding\": \"base64\", \"delivery_tag\": \"">>, id,
      <<"\"}}">>], Queue};
head(#c{transport = redis, target = T, user = U}) ->
    Key = iolist_to_binary([<<"bench.caller.erlang.">>, os:getpid(), $., integer_to_binary(U)]),
    {[<<"*3\r\n$5\r\nLPUSH\r\n$">>, integer_to_binary(byte_size(maps:get(<<"queue">>, T))),
      <<"\r\n">>, maps:get(<<"queue">>, T), <<"\r\n">>], Key};
head(#c{transport = grpc, target = T, op = Op, body = Body, timeout_ms = TO}) ->
    bench_caller_grpc:new(Op, Body, #{host => maps:get(<<"host">>, T), port => maps:get(<<"port">>, T),
                                      timeout_ms => TO});
head(#c{}) ->
    <<>>.

%% @doc Closes the client's connection.
-spec close(client()) -> client().
close(#c{conn = none} = C) -> C;
close(#c{transport = redis, conn = {resp, Sock}} = C) ->
    gen_tcp:close(Sock), C#c{conn = none};
close(#c{transport = redis, conn = Pid} = C) ->
    unlink(Pid), catch eredis:stop(Pid), C#c{conn = none};
close(#c{transport = celery, conn = {Pid, Sub, _}} = C) ->
    unlink(Pid), unlink(Sub), catch eredis:stop(Pid), catch eredis_sub:stop(Sub), C#c{conn = none};
close(#c{transport = grpc, conn = Conn} = C) -> bench_caller_grpc:close(Conn), C#c{conn = none};
close(#c{conn = {Sock, _}} = C) -> gen_tcp:close(Sock), C#c{conn = none}.

%% @doc One request and its reply (connecting first if needed).
-spec call(client(), integer()) ->
          {{ok, ok | error, binary() | {value, term()}} | {error, term()}, client()}.
call(#c{conn = none} = C, Deadline) ->
    case connect(C) of
        {ok, C1} -> call(C1, Deadline);
        {error, Why} -> {{error, {connect, Why}}, C}
    end;
call(#c{transport = grpc, conn = Conn} = C, Deadline) ->
    %% a reset stream leaves the connection usable; what closed it comes back as `closed'
    {Reply, Conn1} = bench_caller_grpc:call(Conn, Deadline),
    C1 = C#c{conn = case Conn1 of closed -> none; _ -> Conn1 end},
    case Reply of
        {ok, _, _} -> {Reply, bump(C1)};
        {error, _} -> {Reply, C1}
    end;
call(C, Deadline) ->
    case request(C, Deadline) of
        {ok, Status, Body, Conn} -> {{ok, Status, Body}, bump(C#c{conn = Conn})};
        {error, _} = Error -> {Error, close(C)}
    end.

bump(#c{seq = S} = C) -> C#c{seq = S + 1}.

connect(#c{transport = redis, target = T} = C) ->
    Url = binary_to_list(maps:get(<<"redis_url">>, T)),
    Result = case redis_client() of
                 resp -> bench_caller_resp:connect(Url, ?CONNECT_MS);
                 eredis -> bench_redis:connect(#{redis_url => Url})
             end,
    case Result of
        {ok, Sock} when is_port(Sock) -> {ok, C#c{conn = {resp, Sock}}};
        {ok, Pid} -> {ok, C#c{conn = Pid}};
        {error, _} = E -> E
    end;
connect(#c{transport = celery, target = T} = C) ->
    Url = binary_to_list(maps:get(<<"redis_url">>, T)),
    {ok, Host, Port, _Db, Password} = bench_redis:parse_url(Url),
    case bench_redis:connect(#{redis_url => Url}) of
        {ok, Pid} ->
            {ok, Sub} = eredis_sub:start_link(Host, Port, Password, no_reconnect, infinity, drop),
            ok = eredis_sub:controlling_process(Sub),
            Prefix = task_prefix(C),
            ok = eredis_sub:psubscribe(Sub, [<<"celery-task-meta-", Prefix/binary, "*">>]),
            receive
                {subscribed, _, Sub} -> eredis_sub:ack_message(Sub), {ok, C#c{conn = {Pid, Sub, Prefix}}}
            after ?CONNECT_MS ->
                    {error, psubscribe_timeout}
            end;
        {error, _} = E -> E
    end;
connect(#c{transport = grpc, target = T, head = Req} = C) ->
    case bench_caller_grpc:connect(Req, {binary_to_list(maps:get(<<"host">>, T)),
                                         maps:get(<<"port">>, T), ?CONNECT_MS}) of
        {ok, Conn} -> {ok, C#c{conn = Conn}};
        {error, _} = E -> E
    end;
connect(#c{target = T} = C) ->
    Host = binary_to_list(maps:get(<<"host">>, T)),
    case gen_tcp:connect(Host, maps:get(<<"port">>, T),
                         [binary, {active, false}, {nodelay, true}, {packet, raw}],
                         ?CONNECT_MS) of
        {ok, Sock} -> handshake(C#c{conn = {Sock, <<>>}});
        {error, _} = E -> E
    end.

handshake(#c{transport = http} = C) -> {ok, C};
handshake(#c{transport = zmq, conn = {Sock, _}} = C) ->
    Deadline = erlang:monotonic_time(millisecond) + ?CONNECT_MS,
    ok = gen_tcp:send(Sock, [bench_zmtp:greeting(#{as_server => false}),
                             bench_zmtp:ready([{<<"Socket-Type">>, <<"DEALER">>}])]),
    case zmq_until(Sock, bench_zmtp:new(), Deadline, fun({command, <<"READY">>, _}) -> true;
                                                        (_) -> false end) of
        {ok, _, Dec} -> {ok, C#c{conn = {Sock, Dec}}};
        {error, _} = E -> gen_tcp:close(Sock), E
    end.

request(#c{transport = http, conn = {Sock, Buf}, head = Head, body = Body}, Deadline) ->
    case gen_tcp:send(Sock, [Head, Body]) of
        ok ->
            case http_reply(Sock, Buf, Deadline) of
                {ok, Status, RBody} -> {ok, Status, RBody, {Sock, <<>>}};
                {error, _} = E -> E
            end;
        {error, _} = E -> E
    end;
request(#c{transport = zmq, conn = {Sock, Dec}, head = Msg}, Deadline) ->
    case gen_tcp:send(Sock, Msg) of
        ok ->
            case zmq_until(Sock, Dec, Deadline, fun({message, _}) -> true; (_) -> false end) of
                {ok, {message, [<<>>, Status, Body]}, Dec1} ->
                    {ok, status(Status), Body, {Sock, Dec1}};
                {ok, {message, Frames}, _} -> {error, {zmq_reply_frames, length(Frames)}};
                {error, _} = E -> E
            end;
        {error, _} = E -> E
    end;
request(#c{transport = redis, conn = {resp, Sock}, head = {_, Key} = Head, op = Op, body = Body,
             seq = S}, Deadline) ->
    Id = integer_to_binary(S),
    Msg = [Op, $\s, Id, $\s, Key, $\n, Body],
    resp_reply(bench_caller_resp:push_pop(Sock, Head, Msg, block_s(Deadline), recv_ms(Deadline)),
               Sock, Key, Id, Deadline);
request(#c{transport = redis, conn = Pid, target = T, op = Op, body = Body, head = {_, Key},
           seq = S}, Deadline) ->
    Id = integer_to_binary(S),
    Msg = [Op, $\s, Id, $\s, Key, $\n, Body],
    Left = max(1, Deadline - erlang:monotonic_time(millisecond)),
    case catch eredis:qp(Pid, [[<<"LPUSH">>, maps:get(<<"queue">>, T), Msg],
                               [<<"BRPOP">>, Key, block_s(Deadline)]], Left + 1000) of
        [{ok, _}, {ok, [Key, Reply]}] -> eredis_reply(Pid, Key, Reply, Id, Deadline);
        [{ok, _}, {ok, undefined}] -> {error, timeout};
        Other -> {error, {redis, Other}}
    end;
request(#c{transport = celery, conn = {Pid, Sub, Prefix} = Conn, head = {Head, Queue}, seq = S},
        Deadline) ->
    Id = <<Prefix/binary, (integer_to_binary(S))/binary>>,
    Msg = [case P of id -> Id; _ -> P end || P <- Head],
    Left = max(1, Deadline - erlang:monotonic_time(millisecond)),
    case catch eredis:q(Pid, [<<"LPUSH">>, Queue, Msg], Left) of
        {ok, _} ->
            case celery_result(Sub, <<"celery-task-meta-", Id/binary>>, Deadline) of
                {ok, Status, Value} -> {ok, Status, Value, Conn};
                {error, _} = E -> E
            end;
        Other -> {error, {redis, Other}}
    end.

%% A reply whose request id is not the one awaited (left by a call that timed out, or a
%% duplicate) is skipped, as the Python caller's redisq.py does: the next one is awaited
%% within the same deadline.
resp_reply({ok, nil}, _Sock, _Key, _Id, _Deadline) -> {error, timeout};
resp_reply({ok, Reply}, Sock, Key, Id, Deadline) ->
    case redis_reply(Reply, Id) of
        {ok, Status, RBody} -> {ok, Status, RBody, {resp, Sock}};
        stale ->
            resp_reply(bench_caller_resp:pop(Sock, Key, block_s(Deadline), recv_ms(Deadline)),
                       Sock, Key, Id, Deadline);
        {error, _} = E -> E
    end;
resp_reply({error, _} = E, _Sock, _Key, _Id, _Deadline) -> E.

eredis_reply(Pid, Key, Reply, Id, Deadline) ->
    case redis_reply(Reply, Id) of
        {ok, Status, RBody} -> {ok, Status, RBody, Pid};
        stale ->
            case catch eredis:q(Pid, [<<"BRPOP">>, Key, block_s(Deadline)], recv_ms(Deadline)) of
                {ok, [Key, Reply1]} -> eredis_reply(Pid, Key, Reply1, Id, Deadline);
                {ok, undefined} -> {error, timeout};
                Other -> {error, {redis, Other}}
            end;
        {error, _} = E -> E
    end.

%% BRPOP's timeout: what is left of the deadline (at least 1 ms), and the socket's, 1 s more.
block_s(Deadline) ->
    Left = max(1, Deadline - erlang:monotonic_time(millisecond)),
    float_to_binary(Left / 1000, [{decimals, 3}]).

recv_ms(Deadline) ->
    max(1, Deadline - erlang:monotonic_time(millisecond)) + 1000.

redis_reply(Reply, Id) ->
    case binary:split(Reply, <<"\n">>) of
        [Header, Body] ->
            case binary:split(Header, <<" ">>) of
                [Status, Id] -> {ok, status(Status), Body};
                [_, _Other] -> stale;
                _ -> {error, {bad_redis_reply_header, Header}}
            end;
        _ -> {error, bad_redis_reply}
    end.

%% A task's result document; another task's (a reply after a timeout) is skipped.
celery_result(Sub, Channel, Deadline) ->
    receive
        {pmessage, _Pattern, Ch, Doc, Sub} ->
            eredis_sub:ack_message(Sub),
            case Ch of
                Channel ->
                    case catch jiffy:decode(Doc, [return_maps]) of
                        #{<<"status">> := <<"SUCCESS">>, <<"result">> := R} -> {ok, ok, {value, R}};
                        #{<<"status">> := Status, <<"result">> := R} ->
                            {ok, error, iolist_to_binary([Status, $\s, jiffy:encode(R)])};
                        _ -> {error, {bad_result_document, Doc}}
                    end;
                _ -> celery_result(Sub, Channel, Deadline)
            end;
        {eredis_disconnected, Sub} ->
            {error, result_subscription_lost}
    after max(0, Deadline - erlang:monotonic_time(millisecond)) ->
            {error, timeout}
    end.

task_prefix(#c{user = U}) ->
    iolist_to_binary(io_lib:format("erlang-~s-~b-~s-", [os:getpid(), U,
                                                     [io_lib:format("~2.16.0b", [B])
                                                      || <<B>> <= crypto:strong_rand_bytes(4)]])).

%% The redis client: our own RESP client (bench_caller_resp), or eredis when
%% BENCH_CALLER_REDIS=eredis (kept to measure one against the other).
redis_client() ->
    case os:getenv("BENCH_CALLER_REDIS") of
        "eredis" -> eredis;
        _ -> resp
    end.

status(<<"ok">>) -> ok;
status(_) -> error.

%% Reads ZMTP events until one satisfies Want (PINGs answered, other events skipped).
zmq_until(Sock, Dec, Deadline, Want) ->
    case recv(Sock, Deadline) of
        {ok, Data} ->
            case bench_zmtp:decode(Data, Dec) of
                {ok, Events, Dec1} ->
                    case [E || E <- Events, Want(E)] of
                        [E | _] -> {ok, E, Dec1};
                        [] -> zmq_until(Sock, Dec1, Deadline, Want)
                    end;
                {error, _} = E -> E
            end;
        {error, _} = E -> E
    end.

recv(Sock, Deadline) ->
    case Deadline - erlang:monotonic_time(millisecond) of
        Left when Left > 0 -> gen_tcp:recv(Sock, 0, Left);
        _ -> {error, timeout}
    end.

%% An HTTP/1.1 response: status line, headers, Content-Length body.
http_reply(Sock, Buf, Deadline) ->
    case erlang:decode_packet(http_bin, Buf, []) of
        {ok, {http_response, _, Code, _}, Rest} -> http_headers(Sock, Rest, Deadline, Code, none);
        {ok, {http_error, Line}, _} -> {error, {bad_status_line, Line}};
        {more, _} -> more(Sock, Buf, Deadline, fun(B) -> http_reply(Sock, B, Deadline) end);
        {error, Why} -> {error, {http, Why}}
    end.

http_headers(Sock, Buf, Deadline, Code, Len) ->
    case erlang:decode_packet(httph_bin, Buf, []) of
        {ok, {http_header, _, 'Content-Length', _, V}, Rest} ->
            http_headers(Sock, Rest, Deadline, Code, binary_to_integer(V));
        {ok, {http_header, _, 'Transfer-Encoding', _, _}, _} -> {error, chunked_not_supported};
        {ok, {http_header, _, _, _, _}, Rest} -> http_headers(Sock, Rest, Deadline, Code, Len);
        {ok, http_eoh, Rest} when is_integer(Len) -> http_body(Sock, Rest, Deadline, Code, Len);
        {ok, http_eoh, _} -> {error, no_content_length};
        {ok, {http_error, Line}, _} -> {error, {bad_header, Line}};
        {more, _} ->
            more(Sock, Buf, Deadline, fun(B) -> http_headers(Sock, B, Deadline, Code, Len) end);
        {error, Why} -> {error, {http, Why}}
    end.

http_body(_Sock, Buf, _Deadline, Code, Len) when byte_size(Buf) >= Len ->
    %% Keep-alive: a reply never carries bytes past its body (one request in flight).
    <<Body:Len/binary, _/binary>> = Buf,
    {ok, case Code of 200 -> ok; _ -> error end, Body};
http_body(Sock, Buf, Deadline, Code, Len) ->
    case recv_n(Sock, Len - byte_size(Buf), Deadline) of
        {ok, More} -> http_body(Sock, <<Buf/binary, More/binary>>, Deadline, Code, Len);
        {error, _} = E -> E
    end.

recv_n(Sock, N, Deadline) ->
    case Deadline - erlang:monotonic_time(millisecond) of
        Left when Left > 0 -> gen_tcp:recv(Sock, N, Left);
        _ -> {error, timeout}
    end.

more(Sock, Buf, Deadline, K) ->
    case recv(Sock, Deadline) of
        {ok, Data} -> K(<<Buf/binary, Data/binary>>);
        {error, _} = E -> E
    end.

%% @doc Whether a reply is right (LOADGEN.md): echo, status ok and the body equal (past
%% 64 bytes: length and the first, middle and last 16 bytes); diff, status ok and the
%% opcodes equal. Returns `ok' or `{wrong, Why}'.
-spec check(binary(), {ok | error, binary() | {value, term()}}, map()) -> ok | {wrong, binary()}.
check(_Op, {error, Body}, _Req) ->
    {wrong, iolist_to_binary([<<"error status: ">>, binary:part(Body, 0, min(200, byte_size(Body)))])};
check(<<"echo">>, {ok, {value, Got}}, Req) when is_binary(Got) ->
    check(<<"echo">>, {ok, Got}, Req);
check(<<"diff">>, {ok, {value, Want}}, #{<<"opcodes">> := Want}) ->
    ok;
check(_Op, {ok, {value, _}}, _Req) ->
    {wrong, <<"task result differs">>};
check(<<"echo">>, {ok, Got}, #{<<"body">> := Want}) ->
    case same(Got, Want) of
        true -> ok;
        false -> {wrong, iolist_to_binary(io_lib:format("echo body differs: ~b bytes, want ~b",
                                                        [byte_size(Got), byte_size(Want)]))}
    end;
check(<<"diff">>, {ok, Got}, #{<<"opcodes">> := Want}) ->
    case catch jiffy:decode(Got, [return_maps]) of
        #{<<"opcodes">> := Want} -> ok;
        _ -> {wrong, <<"diff opcodes differ">>}
    end.

same(Got, Want) when byte_size(Got) =/= byte_size(Want) -> false;
same(Got, Want) when byte_size(Want) =< 64 -> Got =:= Want;
same(Got, Want) ->
    N = byte_size(Want),
    M = N div 2,
    binary:part(Got, 0, 16) =:= binary:part(Want, 0, 16)
        andalso binary:part(Got, M, 16) =:= binary:part(Want, M, 16)
        andalso binary:part(Got, N - 16, 16) =:= binary:part(Want, N - 16, 16).
