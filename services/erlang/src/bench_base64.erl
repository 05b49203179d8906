%% @doc Base64 decoding for Celery message bodies, the same function as `base64:decode/1'
%% (same results, same errors), faster on the canonical form kombu writes.
%%
%% OTP 25's `base64:decode/1' looks at one character at a time: a 64 KiB Celery echo
%% (an 87 KiB body) took about 1.5 ms of CPU, most of the worker's time per task. Here all but
%% the last four characters are decoded two characters (12 bits) at a time through a
%% 65 536-entry table kept in `persistent_term', eight characters per step, appended to one
%% binary; the last four (where the padding is) and any input that is not plain alphabet
%% (whitespace, `=' inside, other bytes, a length that is not a multiple of 4) go to
%% `base64:decode/1' itself, so what is accepted, refused and returned does not change
%% (EUnit `bench_base64_tests' compares the two on random and malformed inputs).
-module(bench_base64).

-export([decode/1]).

-define(TABLE, {?MODULE, pairs}).

%% @doc As `base64:decode/1'; raises as it does on malformed input.
-spec decode(binary()) -> binary().
decode(Base64) when is_binary(Base64), byte_size(Base64) >= 8, byte_size(Base64) rem 4 =:= 0 ->
    Size = byte_size(Base64) - 4,
    <<Body:Size/binary, Last:4/binary>> = Base64,
    try pairs(Body, table(), <<>>) of
        Decoded -> <<Decoded/binary, (base64:decode(Last))/binary>>
    catch
        %% a byte outside the alphabet in the body: base64:decode/1 says what it makes of it
        error:badarith -> base64:decode(Base64)
    end;
decode(Base64) ->
    base64:decode(Base64).

%% Two characters per table entry: 12 bits, or `bad' (which makes `bsl' raise badarith).
pairs(<<W1:16, W2:16, W3:16, W4:16, W5:16, W6:16, W7:16, W8:16, Rest/binary>>, T, Acc) ->
    pairs(Rest, T, <<Acc/binary,
                     ((element(W1 + 1, T) bsl 36) bor (element(W2 + 1, T) bsl 24)
                      bor (element(W3 + 1, T) bsl 12) bor element(W4 + 1, T)):48,
                     ((element(W5 + 1, T) bsl 36) bor (element(W6 + 1, T) bsl 24)
                      bor (element(W7 + 1, T) bsl 12) bor element(W8 + 1, T)):48>>);
pairs(<<W1:16, W2:16, Rest/binary>>, T, Acc) ->
    pairs(Rest, T, <<Acc/binary, ((element(W1 + 1, T) bsl 12) bor element(W2 + 1, T)):24>>);
pairs(<<>>, _T, Acc) ->
    Acc.

table() ->
    case persistent_term:get(?TABLE, undefined) of
        undefined ->
            T = list_to_tuple([pair(W bsr 8, W band 255) || W <- lists:seq(0, 65535)]),
            persistent_term:put(?TABLE, T),
            T;
        T ->
            T
    end.

pair(High, Low) ->
    case {sextet(High), sextet(Low)} of
        {H, L} when is_integer(H), is_integer(L) -> (H bsl 6) bor L;
        _ -> bad
    end.

sextet(C) when C >= $A, C =< $Z -> C - $A;
sextet(C) when C >= $a, C =< $z -> C - $a + 26;
sextet(C) when C >= $0, C =< $9 -> C - $0 + 52;
sextet($+) -> 62;
sextet($/) -> 63;
sextet(_) -> bad.
