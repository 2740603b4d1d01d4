"""The LSTM LM's search step (asr.model.lm.LstmLM.score), written out for the CPU.

In shallow fusion the LM is stepped once per search step for the prefixes that are new: a few
rows for one utterance, some hundreds for a large batch. On the CPU, `nn.LSTM` runs through
oneDNN, which prepares its weights again on every call: one step of the 64/256x2 LM on 3 rows
took 2.9 ms, of the 256/1024x2 LM 45 ms (medians, one thread, the shared 2-core Xeon of
BENCHMARKS.md; 1.9-5.0 ms and 47-77 ms on 10 and 100 rows). The same step as plain matrix
products took 0.43 ms and 6.2 ms (0.85-3.4 ms and 20-40 ms on 10 and 100 rows):

    layer 0:  gates = E_ih[token] + h W_hh^T       (E_ih = embedding W_ih^T + biases: a lookup)
    layer l:  gates = x W_ih^T + h W_hh^T + biases
              i, f, g, o = sigmoid, sigmoid, tanh, sigmoid of the gates' quarters
              c' = f * c + i * g;   h' = o * tanh(c')

`LstmStepScorer` implements the search's LanguageModelScorer protocol this way; its state is one
tensor [N, 2 * layers, hidden] (h and c of each layer), so selecting and joining hypotheses is
one op each. It computes what LstmLM.score does, up to float rounding (tests/test_beam_single.py
compares them), for a model in eval mode (no dropout) on the CPU; `lstm_step_scorer` leaves any
other LM (and an LstmLM in training mode or on a GPU, where cuDNN serves nn.LSTM) as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from asr.model.lm import LstmLM


def lstm_step_scorer(lm: Any) -> Any:
    """An LstmStepScorer for an LstmLM on the CPU in eval mode; any other LM as it is. Built for
    each search (it reads the weights as they are then; about 0.25 ms for the 64/256x2 LM)."""
    if not isinstance(lm, LstmLM) or lm.training or lm.output.weight.device.type != "cpu":
        return lm
    return LstmStepScorer(lm)


class LstmStepScorer:
    """LanguageModelScorer protocol (asr.decode.beam) for an LstmLM, one matrix product per
    weight matrix and step. State: [N, 2 * num_layers, hidden]: h, c of layer 0, then layer 1..."""

    @torch.no_grad()
    def __init__(self, lm: LstmLM):
        lstm = lm.lstm
        self.num_layers, self.hidden = lstm.num_layers, lstm.hidden_size
        weights = [(getattr(lstm, f"weight_ih_l{k}"), getattr(lstm, f"weight_hh_l{k}"),
                    getattr(lstm, f"bias_ih_l{k}") + getattr(lstm, f"bias_hh_l{k}")) for k in range(self.num_layers)]
        # Layer 0's input part depends on the token only: one row per token.
        w_ih, _, bias = weights[0]
        self.first_input = torch.addmm(bias, lm.embedding.weight, w_ih.t())  # [V, 4H]
        self.recurrent = [w_hh.t() for _, w_hh, _ in weights]  # [H, 4H] views, no copy
        self.inputs = [(w_ih.t(), bias) for w_ih, _, bias in weights[1:]]
        self.output_weight, self.output_bias = lm.output.weight.t(), lm.output.bias

    def initial_state(self, batch_size: int) -> torch.Tensor:
        weight = self.output_weight
        return torch.zeros(batch_size, 2 * self.num_layers, self.hidden, device=weight.device, dtype=weight.dtype)

    @torch.no_grad()
    def score(self, state: torch.Tensor, last_tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """As LstmLM.score: feed each hypothesis its last token (-1: the sentence start) ->
        log P(next token | prefix) [N, V] (float32) and the new state."""
        tokens = torch.where(last_tokens < 0, LstmLM.BOUNDARY, last_tokens)
        hidden = self.hidden
        new_state = []
        x = None
        for layer in range(self.num_layers):
            h, c = state[:, 2 * layer], state[:, 2 * layer + 1]
            if layer == 0:
                gates = torch.addmm(self.first_input.index_select(0, tokens), h, self.recurrent[0])
            else:
                w_ih, bias = self.inputs[layer - 1]
                gates = torch.addmm(torch.addmm(bias, x, w_ih), h, self.recurrent[layer])
            activated = torch.sigmoid(gates)  # the g quarter is replaced by its tanh below
            input_gate, forget_gate, output_gate = (activated[:, :hidden], activated[:, hidden:2 * hidden],
                                                    activated[:, 3 * hidden:])
            c = torch.addcmul(forget_gate * c, input_gate, torch.tanh(gates[:, 2 * hidden:3 * hidden]))
            x = output_gate * torch.tanh(c)
            new_state += [x, c]
        log_probs = torch.addmm(self.output_bias, x, self.output_weight).float().log_softmax(-1)
        return log_probs, torch.stack(new_state, dim=1)

    @staticmethod
    def select(state: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        return state.index_select(0, indices)

    @staticmethod
    def concat(states: Sequence[torch.Tensor]) -> torch.Tensor:
        return torch.cat(list(states))

    @torch.no_grad()
    def final_score(self, state: torch.Tensor) -> torch.Tensor:
        """log P(end of sentence | prefix) [N] from the top layer's h."""
        top = state[:, 2 * (self.num_layers - 1)]
        return torch.addmm(self.output_bias, top, self.output_weight).float().log_softmax(-1)[:, LstmLM.BOUNDARY]
