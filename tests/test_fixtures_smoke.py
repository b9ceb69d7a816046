from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer


def test_tiny_models_load_and_run(tiny_policy_dir, tiny_rm_dir):
    tok = AutoTokenizer.from_pretrained(tiny_policy_dir)
    text = tok.apply_chat_template(
        [{"role": "user", "content": "How do I bake bread?"}], tokenize=False, add_generation_prompt=True
    )
    assert text.endswith("<|im_start|>assistant\n")
    ids = tok(text, return_tensors="pt")
    policy = AutoModelForCausalLM.from_pretrained(tiny_policy_dir)
    assert policy(**ids).logits.shape[-1] == len(tok)
    rm = AutoModelForSequenceClassification.from_pretrained(tiny_rm_dir)
    assert rm(**AutoTokenizer.from_pretrained(tiny_rm_dir)(text, return_tensors="pt")).logits.shape == (1, 1)
