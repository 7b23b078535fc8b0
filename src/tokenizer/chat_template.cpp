#include "cotrain/tokenizer/chat_template.h"
