# cotrain tokenize: text -> ids, ids -> text, conversations -> ids + mask, and bad input.
source "$(dirname "$0")/lib.sh"
require_shared tokenizers/qwen2.5/tokenizer.json
require_shared tokenizers/qwen3/tokenizer_config.json
QWEN25="$SHARED/tokenizers/qwen2.5"
QWEN3="$SHARED/tokenizers/qwen3"

# Text -> ids (ids from llama.cpp's Qwen2 vectors; <|im_end|> is 151645), to stdout and to --out.
printf '{"text": "Hello world"}\n\n{"text": " Hello World!"}\n{"text": "a<|im_end|>"}\n' >text.jsonl
expect_exit 0 "$COTRAIN" tokenize --tokenizer "$QWEN25/tokenizer.json" --input text.jsonl --threads 2
[ "$(cat out)" = '{"ids":[9707,1879]}
{"ids":[21927,4337,0]}
{"ids":[64,151645]}' ] || fail "unexpected ids: $(cat out)"
pass
printf '{"text": "a<|im_end|>"}\n' >special.jsonl
expect_exit 0 "$COTRAIN" tokenize --tokenizer "$QWEN25" --input special.jsonl --special-as-text
[ "$(cat out)" = '{"ids":[64,27,91,318,6213,91,29]}' ] || fail "special token not taken as text: $(cat out)"
pass
expect_exit 0 "$COTRAIN" tokenize --tokenizer "$QWEN25" --input text.jsonl --out ids.jsonl
[ "$(wc -l <ids.jsonl)" = 3 ] || fail "ids.jsonl has $(wc -l <ids.jsonl) lines"
pass

# ids -> text gives the text back; --skip-special drops <|im_end|>.
expect_exit 0 "$COTRAIN" tokenize --tokenizer "$QWEN25" --input ids.jsonl --decode
expect_contains out '^\{"text":" Hello World!"\}$'
expect_contains out '^\{"text":"a<\|im_end\|>"\}$'
expect_exit 0 "$COTRAIN" tokenize --tokenizer "$QWEN25" --input ids.jsonl --decode --skip-special
expect_contains out '^\{"text":"a"\}$'

# Conversations: the template is detected from tokenizer_config.json (Qwen3) or named.
printf '{"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]}\n' >chat.jsonl
expect_exit 0 "$COTRAIN" tokenize --tokenizer "$QWEN3" --input chat.jsonl --chat
# <|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n4<|im_end|>\n
expect_contains out '"ids":\[151644,872,198,17,10,17,30,151645,198,151644,77091,198,151667,271,151668,271,19,151645,198\]'
expect_contains out '"mask":\[0,0,0,0,0,0,0,0,0,0,0,0,1,1,1,1,1,1,0\]'
expect_exit 0 "$COTRAIN" tokenize --tokenizer "$QWEN3" --input chat.jsonl --chat --template qwen2.5
expect_contains out '"ids":\[151644,8948,198'  # Qwen2.5's default system turn

# Bad rows and options: one line naming the file and line, exit 2, no output file.
printf '{"text": "ok"}\n{"txt": "no"}\n' >badrow.jsonl
expect_exit 2 "$COTRAIN" tokenize --tokenizer "$QWEN25" --input badrow.jsonl --out never.jsonl
expect_one_line_error 'badrow.jsonl:2: missing string field "text"'
[ ! -e never.jsonl ] || fail "a partial output was left behind"
pass
printf '{"messages": [{"role": "user", "content": "only a question"}]}\n' >noanswer.jsonl
expect_exit 2 "$COTRAIN" tokenize --tokenizer "$QWEN3" --input noanswer.jsonl --chat
expect_one_line_error 'noanswer.jsonl:1: nothing to train on'
expect_exit 2 "$COTRAIN" tokenize --tokenizer "$QWEN3" --input chat.jsonl --chat --template vicuna
expect_one_line_error '--template vicuna: unknown chat template \(known: qwen2.5, qwen25, qwen3, llama3, deepseek-r1, chatml, none\)'
printf '{"ids": [1, 99999999]}\n' >badids.jsonl
expect_exit 2 "$COTRAIN" tokenize --tokenizer "$QWEN25" --input badids.jsonl --decode
expect_one_line_error 'badids.jsonl:1: token id 99999999 out of range'

# Malformed tokenizer.json: exit 2 naming the field.
mkdir -p broken
sed 's/"model": {/"renamed": {/' "$QWEN25/tokenizer.json" >broken/tokenizer.json
expect_exit 2 "$COTRAIN" tokenize --tokenizer broken/tokenizer.json --input text.jsonl
expect_one_line_error 'broken/tokenizer.json: model missing'
sed '0,/"Ġ Ġ"/s//"ĠĠ"/' "$QWEN25/tokenizer.json" >broken/tokenizer.json  # the first merge loses its space
expect_exit 2 "$COTRAIN" tokenize --tokenizer broken/tokenizer.json --input text.jsonl
expect_one_line_error 'model.merges\[0\] is not two tokens'
sed 's/"type": "Split"/"type": "Punctuation"/' "$QWEN25/tokenizer.json" >broken/tokenizer.json
expect_exit 2 "$COTRAIN" tokenize --tokenizer broken/tokenizer.json --input text.jsonl
expect_one_line_error 'pre_tokenizer.pretokenizers\[0\].type "Punctuation" is not supported'
printf '{"model": ' >broken/tokenizer.json
expect_exit 2 "$COTRAIN" tokenize --tokenizer broken/tokenizer.json --input text.jsonl
expect_one_line_error 'broken/tokenizer.json: bad JSON'
expect_exit 2 "$COTRAIN" tokenize --tokenizer broken/absent.json --input text.jsonl
expect_one_line_error 'broken/absent.json: no such file'
finish
