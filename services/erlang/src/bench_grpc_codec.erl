%% @doc Pure gRPC-over-HTTP/2 pieces (grpc/grpc PROTOCOL-HTTP2.md): request header checks
%% (RFC 9113 8.2, 8.3 field rules first, then gRPC's method, content type and encoding),
%% the 5-byte length-prefixed message, and the response field blocks, precomputed once
%% (literals without indexing: stateless, so one binary serves every response). Contract
%% errors map to statuses as CONTRACT.md says; grpc-message is percent-encoded.
-module(bench_grpc_codec).

-export([check_request/1, check_trailers/1, grpc_request/1, decode_message/2,
         encode_message/1, status/1, percent_encode/1, response_headers/0,
         trailers/2, trailers_only/2, http_error/1]).

-export_type([request/0]).

-type header() :: {binary(), binary()}.
-type request() :: #{method := binary(), path := binary(), content_type := binary() | none,
                     content_length := none | non_neg_integer(),
                     grpc_encoding := binary() | none}.

-define(PSEUDO, [<<":method">>, <<":scheme">>, <<":path">>, <<":authority">>]).
-define(CONNECTION_SPECIFIC, [<<"connection">>, <<"keep-alive">>, <<"proxy-connection">>,
                              <<"transfer-encoding">>, <<"upgrade">>]).

%% @doc A request's field section checked as RFC 9113 8.2 and 8.3 say: lowercase names
%% without separators, regular values without NUL/CR/LF or surrounding whitespace, the request
%% pseudo-header fields once each and before the others, :method/:scheme/:path present,
%% no connection-specific fields, `te' only `trailers'. A failure makes the request
%% malformed (a stream error PROTOCOL_ERROR).
-spec check_request([header()]) -> {ok, request()} | {error, {malformed, atom()}}.
check_request(Headers) ->
    try
        Pseudo = pseudo(Headers, #{}),
        Regular = lists:nthtail(map_size(Pseudo), Headers),
        Req0 = #{method => maps:get(<<":method">>, Pseudo, none),
                 path => maps:get(<<":path">>, Pseudo, none),
                 content_type => none, content_length => none, grpc_encoding => none},
        Req = regular(Regular, Req0),
        case Req of
            #{method := <<"CONNECT">>} -> ok;
            #{method := none} -> malformed(missing_method);
            #{path := none} -> malformed(missing_path);
            #{path := <<>>} -> malformed(empty_path);
            _ -> ok
        end,
        maps:is_key(<<":scheme">>, Pseudo) orelse maps:get(method, Req) =:= <<"CONNECT">>
            orelse malformed(missing_scheme),
        {ok, Req}
    catch
        throw:{malformed, Why} -> {error, {malformed, Why}}
    end.

%% @doc Trailers: regular fields only (8.1).
-spec check_trailers([header()]) -> ok | {error, {malformed, atom()}}.
check_trailers(Headers) ->
    try
        _ = regular(Headers, #{content_type => none, content_length => none,
                               grpc_encoding => none}),
        ok
    catch
        throw:{malformed, Why} -> {error, {malformed, Why}}
    end.

malformed(Why) ->
    throw({malformed, Why}).

pseudo([{<<$:, _/binary>> = Name, Value} | Rest], Acc) ->
    lists:member(Name, ?PSEUDO) orelse malformed(bad_pseudo_header),
    maps:is_key(Name, Acc) andalso malformed(duplicate_pseudo_header),
    %% Pseudo-header values are not checked as field values: a :path with a NUL or a
    %% trailing tab names no method and is answered UNIMPLEMENTED (what grpcio and
    %% grpc-java answer, and what the contract's unknown_op asks), not reset.
    pseudo(Rest, Acc#{Name => Value});
pseudo(_, Acc) ->
    Acc.

regular([], Req) ->
    Req;
regular([{<<$:, _/binary>>, _} | _], _Req) ->
    malformed(pseudo_header_after_regular);
regular([{Name, Value} | Rest], Req) ->
    name(Name),
    value(Value),
    lists:member(Name, ?CONNECTION_SPECIFIC) andalso malformed(connection_specific_header),
    Req1 = case Name of
               <<"te">> when Value =/= <<"trailers">> -> malformed(bad_te);
               <<"content-type">> -> Req#{content_type := Value};
               <<"grpc-encoding">> -> Req#{grpc_encoding := Value};
               <<"content-length">> -> Req#{content_length := content_length(Value, Req)};
               _ -> Req
           end,
    regular(Rest, Req1).

content_length(Value, #{content_length := Seen}) ->
    case string:to_integer(binary_to_list(Value)) of
        {N, ""} when N >= 0, Seen =:= none -> N;
        {N, ""} when N =:= Seen -> N;
        _ -> malformed(bad_content_length)
    end.

name(<<>>) ->
    malformed(empty_name);
name(Name) ->
    case valid_name(Name) of
        true -> ok;
        false -> malformed(bad_field_name)
    end.

%% No controls, space, uppercase, DEL, non-ASCII or colon (RFC 9113 8.2.1).
valid_name(<<C, Rest/binary>>) when C > 16#20, C < 16#7f, not (C >= $A andalso C =< $Z),
                                    C =/= $: ->
    valid_name(Rest);
valid_name(<<>>) ->
    true;
valid_name(_) ->
    false.

%% No NUL, CR or LF anywhere, no leading or trailing space or tab (8.2.1).
value(<<>>) ->
    ok;
value(<<C, _/binary>>) when C =:= $\s; C =:= $\t ->
    malformed(bad_field_value);
value(Value) ->
    case binary:last(Value) of
        C when C =:= $\s; C =:= $\t -> malformed(bad_field_value);
        _ -> value_chars(Value)
    end.

value_chars(<<C, Rest/binary>>) when C =/= 0, C =/= $\r, C =/= $\n ->
    value_chars(Rest);
value_chars(<<>>) ->
    ok;
value_chars(_) ->
    malformed(bad_field_value).

%% @doc gRPC's checks on a well-formed request: POST (else HTTP 405), a content type
%% `application/grpc' or `application/grpc+...' / `;...' (else HTTP 415), an encoding we
%% can read (identity: else UNIMPLEMENTED), then the method.
-spec grpc_request(request()) -> {ok, echo | diff} | {http, 405 | 415}
                                     | {grpc, unknown_op, binary()}.
grpc_request(#{method := Method}) when Method =/= <<"POST">> ->
    {http, 405};
grpc_request(#{content_type := CT} = Req) ->
    case grpc_content_type(CT) of
        false -> {http, 415};
        true -> grpc_method(Req)
    end.

grpc_content_type(<<"application/grpc">>) -> true;
grpc_content_type(<<"application/grpc", C, _/binary>>) -> C =:= $+ orelse C =:= $;;
grpc_content_type(_) -> false.

grpc_method(#{grpc_encoding := Enc}) when Enc =/= none, Enc =/= <<"identity">> ->
    {grpc, unknown_op, <<"grpc-encoding not supported (identity only)">>};
grpc_method(#{path := <<"/bench.v1.Bench/Echo">>}) -> {ok, echo};
grpc_method(#{path := <<"/bench.v1.Bench/Diff">>}) -> {ok, diff};
grpc_method(#{path := Path}) ->
    Short = binary:part(Path, 0, min(byte_size(Path), 100)),
    {grpc, unknown_op, <<"unknown method ", Short/binary>>}.

%% @doc The one message of a unary request's body: a 5-byte prefix (compressed flag,
%% length) and exactly that many bytes.
-spec decode_message(binary(), non_neg_integer()) ->
          {ok, binary()} | {error, bench_ops:code(), binary()}.
decode_message(<<0, Len:32, Msg:Len/binary>>, Max) when Len =< Max ->
    {ok, Msg};
decode_message(<<_, Len:32, _/binary>>, Max) when Len > Max ->
    {error, too_large, iolist_to_binary(io_lib:format("message of ~b bytes is over the limit "
                                                      "of ~b", [Len, Max]))};
decode_message(<<1, _:32, _/binary>>, _Max) ->
    {error, bad_request, <<"compressed message without grpc-encoding">>};
decode_message(<<Flag, _:32, _/binary>>, _Max) when Flag > 1 ->
    {error, bad_request, <<"bad message flag">>};
decode_message(<<>>, _Max) ->
    {error, bad_request, <<"no request message">>};
decode_message(<<_, Len:32, Rest/binary>>, _Max) when byte_size(Rest) > Len ->
    {error, bad_request, <<"more than one request message">>};
decode_message(_, _Max) ->
    {error, bad_request, <<"truncated request message">>}.

%% @doc A message with its 5-byte prefix (never compressed).
-spec encode_message(iodata()) -> iodata().
encode_message(Msg) ->
    [<<0, (iolist_size(Msg)):32>>, Msg].

%% @doc The gRPC status code of a contract error (CONTRACT.md errors table).
-spec status(ok | bench_ops:code()) -> non_neg_integer().
status(ok) -> 0;
status(bad_request) -> 3;
status(too_large) -> 8;
status(unknown_op) -> 12;
status(internal) -> 13.

%% @doc grpc-message's encoding: bytes outside printable ASCII, and `%', as %XX.
-spec percent_encode(binary()) -> binary().
percent_encode(Bin) ->
    << <<(pct(C))/binary>> || <<C>> <= Bin >>.

pct(C) when C >= 16#20, C =< 16#7e, C =/= $% -> <<C>>;
pct(C) -> iolist_to_binary(io_lib:format("%~2.16.0B", [C])).

%% @doc The response's leading field block (:status 200, the gRPC content type), encoded
%% once per node.
-spec response_headers() -> binary().
response_headers() ->
    maps:get(headers, blocks()).

%% @doc The trailers closing a response: grpc-status and, for errors, grpc-message.
-spec trailers(ok | bench_ops:code(), binary()) -> binary().
trailers(ok, _Message) ->
    maps:get(ok_trailers, blocks());
trailers(Code, Message) ->
    bench_hpack_codec:encode([{<<"grpc-status">>, integer_to_binary(status(Code))},
                              {<<"grpc-message">>, percent_encode(Message)}]).

blocks() ->
    case persistent_term:get({?MODULE, blocks}, undefined) of
        undefined ->
            Blocks = #{headers => bench_hpack_codec:encode(
                                    [{<<":status">>, <<"200">>},
                                     {<<"content-type">>, <<"application/grpc">>}]),
                       ok_trailers => bench_hpack_codec:encode([{<<"grpc-status">>, <<"0">>}])},
            persistent_term:put({?MODULE, blocks}, Blocks),
            Blocks;
        Blocks ->
            Blocks
    end.

%% @doc A Trailers-Only response (one HEADERS frame with END_STREAM): an error before
%% any message.
-spec trailers_only(bench_ops:code(), binary()) -> binary().
trailers_only(Code, Message) ->
    <<(response_headers())/binary, (trailers(Code, Message))/binary>>.

%% @doc The field block of an HTTP error to a request that is not gRPC (405, 415).
-spec http_error(405 | 415) -> binary().
http_error(Status) ->
    bench_hpack_codec:encode([{<<":status">>, integer_to_binary(Status)}]).
