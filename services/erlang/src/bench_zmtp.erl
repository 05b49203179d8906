%% @doc A pure ZMTP 3.x codec (RFC 23/ZMTP, NULL mechanism, RFC 37 framing): no I/O.
%% The decoder is a state machine over binaries fed in whatever pieces TCP delivers:
%% `decode(Data, Decoder)' returns the complete events so far and the next decoder.
%% Names, mechanisms and property names stay binaries: nothing here makes atoms from
%% network input.
-module(bench_zmtp).

-export([new/0, new/1, decode/2, greeting/1, encode_frame/2, encode_message/1,
         encode_command/2, ready/1, decode_properties/1, encode_properties/1, pong/1]).

-export_type([decoder/0, event/0, greeting_info/0]).

-define(MAX_FRAME_DEFAULT, 64 * 1024 * 1024).
-define(FLAG_MORE, 1).
-define(FLAG_LONG, 2).
-define(FLAG_COMMAND, 4).

-record(dec, {state = greeting :: greeting | frames,
              buf = <<>> :: binary(),
              parts = [] :: [binary()],          % frames of an unfinished message, reversed
              %% A frame whose header has arrived but not all of its body: its pieces
              %% are kept in a list (appending to one binary would copy it each time).
              pending = none :: none | {Flags :: byte(), Size :: non_neg_integer(),
                                        Have :: non_neg_integer(), Chunks :: [binary()]},
              max_frame :: non_neg_integer()}).

-opaque decoder() :: #dec{}.
-type greeting_info() :: #{version := {non_neg_integer(), non_neg_integer()},
                           mechanism := binary(), as_server := boolean()}.
-type event() :: {greeting, greeting_info()}
               | {command, Name :: binary(), Data :: binary()}
               | {message, [binary()]}.
-type error_reason() :: {bad_greeting, signature | as_server}
                      | {unsupported_version, non_neg_integer()}
                      | {unsupported_mechanism, binary()}
                      | {bad_frame, reserved_flags | command_with_more | command_in_message
                                    | command_name}
                      | {frame_too_large, non_neg_integer()}.

%% @doc A decoder expecting the peer's greeting; frames up to 64 MiB.
-spec new() -> decoder().
new() ->
    new(#{}).

-spec new(#{max_frame_size => non_neg_integer()}) -> decoder().
new(Opts) ->
    #dec{max_frame = maps:get(max_frame_size, Opts, ?MAX_FRAME_DEFAULT)}.

%% @doc Feeds bytes; returns every complete event in order.
-spec decode(binary(), decoder()) -> {ok, [event()], decoder()} | {error, error_reason()}.
decode(Data, #dec{pending = {Flags, Size, Have, Chunks}} = D) ->
    Have1 = Have + byte_size(Data),
    case Have1 >= Size of
        false ->
            {ok, [], D#dec{pending = {Flags, Size, Have1, [Data | Chunks]}}};
        true ->
            All = iolist_to_binary(lists:reverse(Chunks, [Data])),
            <<Body:Size/binary, Rest/binary>> = All,
            frame(D#dec{pending = none}, Flags, Body, Rest, [])
    end;
decode(Data, #dec{buf = Buf} = D) ->
    Buf1 = case Buf of
               <<>> -> Data;
               _ -> <<Buf/binary, Data/binary>>
           end,
    run(D#dec{buf = <<>>}, Buf1, []).

run(#dec{state = greeting} = D, Buf, Acc) ->
    case greeting_step(Buf) of
        more -> {ok, lists:reverse(Acc), D#dec{buf = Buf}};
        {error, _} = Error -> Error;
        {ok, Info, Rest} -> run(D#dec{state = frames}, Rest, [{greeting, Info} | Acc])
    end;
run(#dec{state = frames, max_frame = Max} = D, Buf, Acc) ->
    case frame_step(Buf, Max) of
        more ->
            {ok, lists:reverse(Acc), D#dec{buf = Buf}};
        {partial, Flags, Size, Got} ->
            {ok, lists:reverse(Acc), D#dec{pending = {Flags, Size, byte_size(Got), [Got]}}};
        {error, _} = Error ->
            Error;
        {frame, Flags, Body, Rest} ->
            frame(D, Flags, Body, Rest, Acc)
    end.

%% One complete frame: a command, a part of a message, or a message's last part.
frame(#dec{parts = Parts}, Flags, _Body, _Rest, _Acc)
  when Flags band ?FLAG_COMMAND =/= 0, Parts =/= [] ->
    %% A command frame may not interrupt a multipart message.
    {error, {bad_frame, command_in_message}};
frame(_D, Flags, _Body, _Rest, _Acc)
  when Flags band ?FLAG_COMMAND =/= 0, Flags band ?FLAG_MORE =/= 0 ->
    {error, {bad_frame, command_with_more}};
frame(D, Flags, Body, Rest, Acc) when Flags band ?FLAG_COMMAND =/= 0 ->
    case Body of
        <<NameLen, Name:NameLen/binary, CmdData/binary>> when NameLen > 0 ->
            run(D, Rest, [{command, Name, CmdData} | Acc]);
        _ ->
            {error, {bad_frame, command_name}}
    end;
frame(#dec{parts = Parts} = D, Flags, Body, Rest, Acc) when Flags band ?FLAG_MORE =/= 0 ->
    run(D#dec{parts = [Body | Parts]}, Rest, Acc);
frame(#dec{parts = Parts} = D, _Flags, Body, Rest, Acc) ->
    run(D#dec{parts = []}, Rest, [{message, lists:reverse(Parts, [Body])} | Acc]).

%% The 64-byte greeting, checked as soon as each field has arrived so that a peer that
%% is not speaking ZMTP is refused without waiting for 64 bytes.
greeting_step(<<>>) ->
    more;
greeting_step(<<B0, _/binary>>) when B0 =/= 16#FF ->
    {error, {bad_greeting, signature}};
greeting_step(Buf) when byte_size(Buf) < 10 ->
    more;
greeting_step(<<_:9/binary, B9, _/binary>>) when B9 band 1 =/= 1 ->
    %% Byte 9 is 0x7F in ZMTP 3; its low bit set is what separates it from ZMTP 1.0.
    {error, {bad_greeting, signature}};
greeting_step(Buf) when byte_size(Buf) < 11 ->
    more;
greeting_step(<<_:10/binary, Major, _/binary>>) when Major < 3 ->
    {error, {unsupported_version, Major}};
greeting_step(Buf) when byte_size(Buf) < 32 ->
    more;
greeting_step(<<_:12/binary, Mech:20/binary, _/binary>> = Buf) ->
    case strip_zeros(Mech) of
        <<"NULL">> when byte_size(Buf) < 64 ->
            more;
        <<"NULL">> ->
            <<_:10/binary, Major, Minor, _:20/binary, AsServer, _Filler:31/binary,
              Rest/binary>> = Buf,
            case AsServer of
                _ when AsServer =:= 0; AsServer =:= 1 ->
                    {ok, #{version => {Major, Minor}, mechanism => <<"NULL">>,
                           as_server => AsServer =:= 1}, Rest};
                _ ->
                    {error, {bad_greeting, as_server}}
            end;
        Other ->
            {error, {unsupported_mechanism, Other}}
    end.

strip_zeros(Bin) ->
    hd(binary:split(Bin, <<0>>)).

frame_step(<<Flags, _/binary>>, _Max) when Flags band 16#F8 =/= 0 ->
    {error, {bad_frame, reserved_flags}};
frame_step(<<Flags, Size, Rest/binary>>, _Max) when Flags band ?FLAG_LONG =:= 0 ->
    body(Flags, Size, Rest);
frame_step(<<Flags, Size:64, _/binary>>, Max) when Flags band ?FLAG_LONG =/= 0,
                                                   Size > Max ->
    {error, {frame_too_large, Size}};
frame_step(<<Flags, Size:64, Rest/binary>>, _Max) when Flags band ?FLAG_LONG =/= 0 ->
    body(Flags, Size, Rest);
frame_step(_, _Max) ->
    more.

body(Flags, Size, Rest) ->
    case Rest of
        <<Body:Size/binary, Rest1/binary>> -> {frame, Flags, Body, Rest1};
        _ -> {partial, Flags, Size, Rest}
    end.

%% @doc Our 64-byte greeting: version 3.1, the NULL mechanism.
-spec greeting(#{as_server => boolean()}) -> binary().
greeting(Opts) ->
    AsServer = case maps:get(as_server, Opts, false) of true -> 1; false -> 0 end,
    <<16#FF, 0:64, 16#7F, 3, 1, (pad(<<"NULL">>, 20))/binary, AsServer, 0:31/unit:8>>.

pad(Bin, N) ->
    <<Bin/binary, 0:((N - byte_size(Bin)) * 8)>>.

%% @doc One frame; `More' sets the MORE flag. Bodies over 255 bytes use the long form.
-spec encode_frame(iodata(), boolean()) -> iodata().
encode_frame(Body, More) ->
    frame(flag(More, ?FLAG_MORE), Body).

frame(Flags, Body) ->
    case iolist_size(Body) of
        Size when Size =< 255 -> [<<Flags, Size>>, Body];
        Size -> [<<(Flags bor ?FLAG_LONG), Size:64>>, Body]
    end.

flag(true, F) -> F;
flag(false, _F) -> 0.

%% @doc A multipart message: MORE on every frame but the last.
-spec encode_message([iodata(), ...]) -> iodata().
encode_message([Last]) ->
    [encode_frame(Last, false)];
encode_message([Frame | Rest]) ->
    [encode_frame(Frame, true) | encode_message(Rest)].

%% @doc A command frame: name length, name, data.
-spec encode_command(binary(), iodata()) -> iodata().
encode_command(Name, Data) when byte_size(Name) > 0, byte_size(Name) =< 255 ->
    frame(?FLAG_COMMAND, [<<(byte_size(Name))>>, Name, Data]).

%% @doc The READY command with its metadata properties (e.g. Socket-Type, Identity).
-spec ready([{binary(), binary()}]) -> iodata().
ready(Props) ->
    encode_command(<<"READY">>, encode_properties(Props)).

-spec encode_properties([{binary(), binary()}]) -> binary().
encode_properties(Props) ->
    << <<(byte_size(K)), K/binary, (byte_size(V)):32, V/binary>> || {K, V} <- Props >>.

%% @doc The metadata of a READY command, in order.
-spec decode_properties(binary()) -> {ok, [{binary(), binary()}]} | {error, bad_properties}.
decode_properties(Bin) ->
    decode_properties(Bin, []).

decode_properties(<<>>, Acc) ->
    {ok, lists:reverse(Acc)};
decode_properties(<<NLen, Name:NLen/binary, VLen:32, Value:VLen/binary, Rest/binary>>, Acc)
  when NLen > 0 ->
    decode_properties(Rest, [{Name, Value} | Acc]);
decode_properties(_, _Acc) ->
    {error, bad_properties}.

%% @doc The PONG answering a PING's data (TTL then context): it carries the context.
-spec pong(binary()) -> iodata().
pong(<<_TTL:16, Context/binary>>) ->
    encode_command(<<"PONG">>, Context);
pong(_) ->
    encode_command(<<"PONG">>, <<>>).
