%% @doc JSON for the diff op: jiffy plus the contract's validation (strict UTF-8, no lone
%% surrogates, an object whose `a' and `b' are arrays of strings).
-module(bench_json).

-export([decode_diff/1, encode_opcodes/1, encode_opcode_list/1, encode_string/2]).

%% @doc Decodes a diff request. jiffy already rejects invalid UTF-8 inside strings and
%% `\ud800'-style escapes that leave a lone surrogate (verified in bench_json_tests); the
%% whole body is checked for UTF-8 first so that the order of checks is the contract's.
-spec decode_diff(binary()) -> {ok, [binary()], [binary()]} | {error, binary()}.
decode_diff(Body) ->
    case unicode:characters_to_binary(Body, utf8, utf8) of
        Valid when is_binary(Valid) -> decode_json(Body);
        _ -> {error, <<"body is not valid UTF-8">>}
    end.

decode_json(Body) ->
    try jiffy:decode(Body, [return_maps]) of
        Doc -> shape(Doc)
    catch
        %% jiffy raises {Position, Reason} on syntax and encoding errors, and
        %% {range, _} from finish_decode for numbers a double cannot hold.
        error:{Pos, Why} when is_integer(Pos) ->
            {error, iolist_to_binary(io_lib:format("invalid JSON at byte ~b: ~0p", [Pos, Why]))};
        error:Other ->
            {error, iolist_to_binary(io_lib:format("invalid JSON: ~0p", [Other]))}
    end.

shape(#{<<"a">> := A, <<"b">> := B}) ->
    case {strings(A), strings(B)} of
        {true, true} -> {ok, A, B};
        {false, _} -> {error, <<"\"a\" must be an array of strings">>};
        {_, false} -> {error, <<"\"b\" must be an array of strings">>}
    end;
shape(Doc) when is_map(Doc) ->
    {error, <<"the object needs both \"a\" and \"b\"">>};
shape(_) ->
    {error, <<"the body must be a JSON object">>}.

strings(List) when is_list(List) -> lists:all(fun is_binary/1, List);
strings(_) -> false.

%% @doc `{"opcodes": [[tag, i1, i2, j1, j2], ...]}' as iodata.
-spec encode_opcodes([bench_difflib:opcode()]) -> iodata().
encode_opcodes(Opcodes) ->
    [<<"{\"opcodes\":">>, encode_opcode_list(Opcodes), $}].

%% @doc `[[tag, i1, i2, j1, j2], ...]' as iodata (the celery result is the list itself).
-spec encode_opcode_list([bench_difflib:opcode()]) -> iodata().
encode_opcode_list([]) ->
    <<"[]">>;
encode_opcode_list([First | Rest]) ->
    [$[, opcode(First), [[$, | opcode(Op)] || Op <- Rest], $]].

opcode({Tag, I1, I2, J1, J2}) ->
    [<<"[\"">>, atom_to_binary(Tag), <<"\",">>, integer_to_binary(I1), $,,
     integer_to_binary(I2), $,, integer_to_binary(J1), $,, integer_to_binary(J2), $]].

%% @doc A string as JSON, what `jiffy:encode/1' writes for it. `Plain' says that the
%% string came out of JSON text with no backslash in it: jiffy refuses raw control characters
%% in strings, so such a string holds no `"', no `\' and no character below 0x20, and needs
%% no escape: it is written as it is between quotes. `jiffy:encode/1' took 230 to 475 µs of
%% CPU for a 64 KiB ASCII string, and a `binary:match/2' for the 34 characters to escape
%% (Aho-Corasick) 174 µs; the caller's search for one byte (`\') in the JSON text took 2 µs
%% (README.md "CPU per request against the other languages").
-spec encode_string(binary(), boolean()) -> iodata().
encode_string(Text, true) -> [$", Text, $"];
encode_string(Text, false) -> jiffy:encode(Text).
