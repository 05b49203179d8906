%% @doc A faithful port of CPython 3.11's `difflib.SequenceMatcher(None, a, b)' with its
%% defaults (isjunk = None, autojunk = True), for sequences of whole tokens (binaries).
%% Sequences are tuples so that indexing is O(1); b2j is a map from token to its
%% ascending indices in b, popular tokens removed (`__chain_b').
-module(bench_difflib).

-export([opcodes/2, matching_blocks/2]).

-export_type([opcode/0, tag/0, block/0]).

-type tag() :: equal | replace | delete | insert.
-type opcode() :: {tag(), non_neg_integer(), non_neg_integer(),
                   non_neg_integer(), non_neg_integer()}.
-type block() :: {non_neg_integer(), non_neg_integer(), non_neg_integer()}.

-record(sm, {a :: tuple(),          % a as a tuple, a[i] = element(i + 1, A)
             b :: tuple(),
             aj :: tuple()}).        % for each a[i], b2j.get(a[i], []) (ascending j)

%% @doc `SequenceMatcher(None, A, B).get_opcodes()'.
-spec opcodes([binary()], [binary()]) -> [opcode()].
opcodes(A, B) ->
    to_opcodes(matching_blocks(A, B), 0, 0, []).

%% @doc `SequenceMatcher(None, A, B).get_matching_blocks()', the (len(a), len(b), 0)
%% sentinel included.
-spec matching_blocks([binary()], [binary()]) -> [block()].
matching_blocks(A, B) ->
    At = list_to_tuple(A),
    Bt = list_to_tuple(B),
    B2J = chain_b(B),
    AJ = list_to_tuple([maps:get(X, B2J, []) || X <- A]),
    SM = #sm{a = At, b = Bt, aj = AJ},
    LA = tuple_size(At),
    LB = tuple_size(Bt),
    Blocks = lists:sort(blocks(SM, [{0, LA, 0, LB}], [])),
    collapse(Blocks, 0, 0, 0, []) ++ [{LA, LB, 0}].

%% b2j without popular elements: when len(b) >= 200, a token occurring more than
%% len(b) // 100 + 1 times is popular (no junk: isjunk is None).
chain_b(B) ->
    {Rev, N} = lists:foldl(fun(Tok, {M, I}) ->
                                   {maps:update_with(Tok, fun(L) -> [I | L] end, [I], M), I + 1}
                           end, {#{}, 0}, B),
    case N >= 200 of
        true ->
            NTest = N div 100 + 1,
            maps:fold(fun(Tok, Idx, Acc) ->
                              case length(Idx) > NTest of
                                  true -> Acc;
                                  false -> Acc#{Tok => lists:reverse(Idx)}
                              end
                      end, #{}, Rev);
        false ->
            maps:map(fun(_, Idx) -> lists:reverse(Idx) end, Rev)
    end.

%% The work queue of get_matching_blocks (a stack; the order does not matter since the
%% blocks are sorted afterwards).
blocks(_SM, [], Acc) ->
    Acc;
blocks(SM, [{ALo, AHi, BLo, BHi} | Queue], Acc) ->
    case find_longest_match(SM, ALo, AHi, BLo, BHi) of
        {_, _, 0} ->
            blocks(SM, Queue, Acc);
        {I, J, K} = X ->
            Q1 = case ALo < I andalso BLo < J of
                     true -> [{ALo, I, BLo, J} | Queue];
                     false -> Queue
                 end,
            Q2 = case I + K < AHi andalso J + K < BHi of
                     true -> [{I + K, AHi, J + K, BHi} | Q1];
                     false -> Q1
                 end,
            blocks(SM, Q2, [X | Acc])
    end.

find_longest_match(#sm{a = A, b = B, aj = AJ}, ALo, AHi, BLo, BHi) ->
    {BestI0, BestJ0, Size0} = longest(AJ, ALo, AHi, BLo, BHi, #{}, ALo, BLo, 0),
    %% bjunk is empty (isjunk is None), so `not isbjunk(...)' always holds: the best
    %% match is extended over equal elements on each side, popular ones included; the
    %% junk-extension loops of CPython never run.
    {BestI, BestJ, Size1} = extend_back(A, B, ALo, BLo, BestI0, BestJ0, Size0),
    Size = extend_forward(A, B, AHi, BHi, BestI, BestJ, Size1),
    {BestI, BestJ, Size}.

longest(_AJ, I, AHi, _BLo, _BHi, _J2Len, BestI, BestJ, BestSize) when I >= AHi ->
    {BestI, BestJ, BestSize};
longest(AJ, I, AHi, BLo, BHi, J2Len, BestI, BestJ, BestSize) ->
    {NewJ2Len, BI, BJ, BS} = row(element(I + 1, AJ), I, BLo, BHi, J2Len, #{},
                                 BestI, BestJ, BestSize),
    longest(AJ, I + 1, AHi, BLo, BHi, NewJ2Len, BI, BJ, BS).

%% One i of find_longest_match: for j in b2j[a[i]] within [blo, bhi).
row([J | Js], I, BLo, BHi, J2Len, New, BI, BJ, BS) when J < BLo ->
    row(Js, I, BLo, BHi, J2Len, New, BI, BJ, BS);
row([J | Js], I, BLo, BHi, J2Len, New, BI, BJ, BS) when J < BHi ->
    K = case J2Len of
            #{(J - 1) := Prev} -> Prev + 1;
            _ -> 1
        end,
    New1 = New#{J => K},
    case K > BS of
        true -> row(Js, I, BLo, BHi, J2Len, New1, I - K + 1, J - K + 1, K);
        false -> row(Js, I, BLo, BHi, J2Len, New1, BI, BJ, BS)
    end;
row(_, _I, _BLo, _BHi, _J2Len, New, BI, BJ, BS) ->
    {New, BI, BJ, BS}.

extend_back(A, B, ALo, BLo, I, J, K) when I > ALo, J > BLo ->
    case element(I, A) =:= element(J, B) of
        true -> extend_back(A, B, ALo, BLo, I - 1, J - 1, K + 1);
        false -> {I, J, K}
    end;
extend_back(_A, _B, _ALo, _BLo, I, J, K) ->
    {I, J, K}.

extend_forward(A, B, AHi, BHi, I, J, K) when I + K < AHi, J + K < BHi ->
    case element(I + K + 1, A) =:= element(J + K + 1, B) of
        true -> extend_forward(A, B, AHi, BHi, I, J, K + 1);
        false -> K
    end;
extend_forward(_A, _B, _AHi, _BHi, _I, _J, K) ->
    K.

%% Adjacent blocks merged, as in get_matching_blocks.
collapse([], I1, J1, K1, Acc) ->
    lists:reverse(case K1 of 0 -> Acc; _ -> [{I1, J1, K1} | Acc] end);
collapse([{I2, J2, K2} | Rest], I1, J1, K1, Acc) when I1 + K1 =:= I2, J1 + K1 =:= J2 ->
    collapse(Rest, I1, J1, K1 + K2, Acc);
collapse([{I2, J2, K2} | Rest], I1, J1, K1, Acc) ->
    Acc1 = case K1 of 0 -> Acc; _ -> [{I1, J1, K1} | Acc] end,
    collapse(Rest, I2, J2, K2, Acc1).

to_opcodes([], _I, _J, Acc) ->
    lists:reverse(Acc);
to_opcodes([{AI, BJ, Size} | Rest], I, J, Acc) ->
    Tag = if I < AI, J < BJ -> replace;
             I < AI -> delete;
             J < BJ -> insert;
             true -> none
          end,
    Acc1 = case Tag of
               none -> Acc;
               _ -> [{Tag, I, AI, J, BJ} | Acc]
           end,
    I2 = AI + Size,
    J2 = BJ + Size,
    Acc2 = case Size of
               0 -> Acc1;
               _ -> [{equal, AI, I2, BJ, J2} | Acc1]
           end,
    to_opcodes(Rest, I2, J2, Acc2).
