"""The BiLSTM-CTC acoustic model, full-utterance and chunked (latency-controlled BiLSTM).

features [B, T, 80] -> stack 3 frames (30 ms) -> N bidirectional LSTM layers -> linear
-> log-softmax over tokens [B, ceil(T / 3), V], blank = 0.

Chunked mode (for streaming, see ../shared/DESIGN.md "Streaming"): the output frames are cut
into chunks of C frames, each seen with R more frames of right context. In every layer the
forward direction carries its (h, c) from the end of one chunk to the next (it also runs on
over the right context, but that state is not carried); the backward direction starts from
zeros at the end of chunk + right context. A chunk's outputs therefore depend on the past and
on at most R future frames, and with C >= the utterance length chunked mode is the full model.
Both modes use the same weights, so one model serves `asr transcribe` and `asr stream`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from asr.model import length_mask

_LSTM_WEIGHTS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


@dataclass
class AcousticModelConfig:
    """Shape of the acoustic model. `vocab_size` comes from the tokenizer."""

    input_dim: int = 80
    stack: int = 3  # frames stacked into one, which is also the subsampling factor
    num_layers: int = 5
    hidden_size: int = 320  # per direction
    dropout: float = 0.2  # between LSTM layers and before the output layer
    vocab_size: int = 29


def stack_frames(feats: torch.Tensor, lengths: torch.Tensor, stack: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenate `stack` consecutive frames: [B, T, D] -> [B, ceil(T / stack), stack * D].

    The last group of an utterance is completed with zero frames (the CMVN mean), so the
    result for an utterance does not depend on what else is in the batch.
    """
    if stack == 1:
        return feats, lengths
    batch, time, dim = feats.shape
    padded = -(-time // stack) * stack
    if padded != time:
        feats = nn.functional.pad(feats, (0, 0, 0, padded - time))
    return feats.reshape(batch, padded // stack, stack * dim), (lengths + stack - 1) // stack


def _reverse_within_lengths(frames: int, lengths: torch.Tensor) -> torch.Tensor:
    """Time index [B, frames] that reverses each row within its own length (positions past
    it stay put); applying it twice is the identity."""
    time = torch.arange(frames)
    return torch.where(time < lengths[:, None], lengths[:, None] - 1 - time, time)


def _gather_time(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """x [B, T, D] reordered along time by index [B, T]."""
    return x.gather(1, index[:, :, None].expand(-1, -1, x.shape[2]))


class AcousticModel(nn.Module):
    """Frame stacking, a bidirectional LSTM stack, and a linear layer to token log-probs.

    forward(features [B, T, D], lengths [B]) -> (log_probs [B, T', V] float32, lengths [B]),
    T' = ceil(T / stack). On CUDA padded sequences are packed so cuDNN skips the padding; on the
    CPU, where packed sequences are slow, each direction runs on padded tensors (`_lstm_padded`).
    """

    def __init__(self, config: AcousticModelConfig):
        super().__init__()
        self.config = config
        self.lstm = nn.LSTM(
            input_size=config.input_dim * config.stack,
            hidden_size=config.hidden_size,
            num_layers=config.num_layers,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            bidirectional=True,
            batch_first=True,
        )
        self.dropout = nn.Dropout(config.dropout)
        self.output = nn.Linear(2 * config.hidden_size, config.vocab_size)

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor, chunk: int | None = None,
                right_context: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """features [B, T, D], lengths [B] -> (log_probs [B, T', V], lengths [B]).

        chunk=None: the full-utterance model. chunk=C: chunked mode with C output frames per
        chunk and `right_context` more (what streaming computes, for training and evaluation).
        """
        x, out_lengths = stack_frames(feats, lengths, self.config.stack)
        if chunk is not None:
            return self._forward_chunked(x, out_lengths, chunk, right_context), out_lengths.to(x.device)
        x = self._lstm_packed(x, out_lengths) if x.is_cuda else self._lstm_padded(x, out_lengths)
        logits = self.output(self.dropout(x))
        return logits.float().log_softmax(dim=-1), out_lengths.to(logits.device)

    def _lstm_packed(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The LSTM stack on packed sequences (cuDNN skips the padding): x [B, T', D'] -> [B, T', 2H],
        zeros past each length."""
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        packed_out, _ = self.lstm(packed)
        return pad_packed_sequence(packed_out, batch_first=True, total_length=x.shape[1])[0]

    def _lstm_padded(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The same as `_lstm_packed`, computed on padded tensors: on the CPU an LSTM over a packed
        sequence takes a path about 4x slower than over a padded batch (BENCHMARKS.md, "CPU
        training"). Exact: the forward direction runs left to right, so padding only follows
        the valid frames; the backward direction runs over each row reversed within its length,
        so its padding also comes last. Outputs past each length are zeroed after every layer."""
        lengths = lengths.cpu()
        valid = length_mask(lengths, x.shape[1]).to(x.device)[:, :, None]
        reverse_index = _reverse_within_lengths(x.shape[1], lengths).to(x.device)
        layers = self.config.num_layers
        for layer in range(layers):
            forward = self._call_direction(layer, False, x, None)[0]
            x = torch.cat([forward, self._backward_padded(layer, x, reverse_index)], dim=2) * valid
            if layer < layers - 1 and self.training and self.config.dropout:
                x = nn.functional.dropout(x, self.config.dropout, training=True)
        return x

    # ------------------------------------------------------------------ chunked mode
    def initial_state(self, batch: int, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """Forward-direction state before the first chunk: (h, c), each [layers, B, hidden]."""
        shape = (self.config.num_layers, batch, self.config.hidden_size)
        zeros = torch.zeros(shape, device=device, dtype=self.output.weight.dtype)
        return zeros, zeros.clone()

    def forward_chunk(self, window: torch.Tensor, chunk_lengths: torch.Tensor, window_lengths: torch.Tensor,
                      state: tuple[torch.Tensor, torch.Tensor]
                      ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """One chunk of stacked frames with its right context.

        window [N, W, stack * D]: a chunk of C frames then up to W - C frames of right context
        (padded); chunk_lengths [N] (<= C; < C only for an utterance's last chunk, which has no
        right context), window_lengths [N] (>= chunk_lengths; both >= 1; on the CPU); state from
        `initial_state` or the previous chunk. Returns (log_probs [N, C, V] float32, the state
        after the chunk).
        """
        chunk = int(chunk_lengths.max())
        x = window
        hidden, cell = [], []
        for layer in range(self.config.num_layers):
            forward, (h, c) = self._forward_direction(layer, x, chunk, chunk_lengths, window_lengths,
                                                      (state[0][layer], state[1][layer]))
            backward = self._backward_direction(layer, x, window_lengths)
            x = torch.cat([forward, backward], dim=2)
            if layer < self.config.num_layers - 1 and self.training and self.config.dropout:
                x = nn.functional.dropout(x, self.config.dropout, training=True)
            hidden.append(h)
            cell.append(c)
        logits = self.output(self.dropout(x[:, :chunk]))
        return logits.float().log_softmax(dim=-1), (torch.stack(hidden), torch.stack(cell))

    def _forward_chunked(self, x: torch.Tensor, lengths: torch.Tensor, chunk: int,
                         right_context: int) -> torch.Tensor:
        """Stacked frames x [B, T', D'] -> log_probs [B, T', V] in chunked mode (zeros past each length).

        The same function as `forward_chunk` applied chunk after chunk (which streaming does), but
        computed layer by layer over all chunks at once, so that most of the work is a few large
        LSTM calls: per layer, the forward direction runs chunk after chunk over the whole batch
        (its state carried, one call per chunk), then the right contexts of all windows continue
        from their chunk's end state in one batched call, and the backward direction runs over all
        windows (chunk + right context, reversed within their lengths) in one batched call. A
        window is one (utterance, chunk) pair; the right-context frames take different values in
        each window they belong to, so they are carried per window from layer to layer.
        """
        if chunk < 1 or right_context < 0:
            raise ValueError(f"chunk must be >= 1 and right_context >= 0, got {chunk} and {right_context}")
        batch, frames, _ = x.shape
        lengths = lengths.cpu()
        chunks = -(-frames // chunk)
        starts = torch.arange(chunks) * chunk
        remaining = (lengths[:, None] - starts).clamp(min=0)  # [B, K] frames left at each chunk start
        row, index = (remaining > 0).nonzero(as_tuple=True)  # the windows: utterance and chunk index
        chunk_lengths = remaining[row, index].clamp(max=chunk)  # [N]
        window_lengths = remaining[row, index].clamp(max=chunk + right_context)  # [N]
        right_lengths = window_lengths - chunk_lengths  # [N], > 0 only for full chunks
        with_right = (right_lengths > 0).nonzero().squeeze(1)
        device = x.device
        row_d, index_d, with_right_d = row.to(device), index.to(device), with_right.to(device)
        reverse_index = _reverse_within_lengths(chunk + right_context, window_lengths).to(device)
        valid = length_mask(lengths, frames).to(device)[:, :, None]

        sequence = x  # [B, T', D]: each frame's value as a frame of its own chunk
        right = x.new_zeros(0)  # [N, R, D]: the right-context frames of each window
        if right_context:
            padded = nn.functional.pad(x, (0, 0, 0, chunks * chunk + right_context - frames))
            right = padded[:, chunk:].unfold(1, right_context, chunk)[:, :chunks]  # [B, K, D, R]
            right = right.permute(0, 1, 3, 2)[row_d, index_d]
        layers = self.config.num_layers
        for layer in range(layers):
            # forward direction over the chunks, carrying the state; the end state of every chunk
            by_chunk = nn.functional.pad(sequence, (0, 0, 0, chunks * chunk - frames))
            by_chunk = by_chunk.reshape(batch, chunks, chunk, -1)
            state, outputs, ends_h, ends_c = None, [], [], []
            for k in range(chunks):
                out, state = self._call_direction(layer, False, by_chunk[:, k], state)
                outputs.append(out)
                ends_h.append(state[0])
                ends_c.append(state[1])
            forward = torch.stack(outputs, dim=1)  # [B, K, C, H]
            window = by_chunk[row_d, index_d]  # [N, C, D]
            forward_right = None
            if right_context:
                window = torch.cat([window, right], dim=1)  # [N, C + R, D]
                forward_right = right.new_zeros(len(row), right_context, self.config.hidden_size)
                if len(with_right):
                    start_state = (torch.stack(ends_h, dim=1)[row_d, index_d][with_right_d],
                                   torch.stack(ends_c, dim=1)[row_d, index_d][with_right_d])
                    out, _ = self._call_direction(layer, False, right[with_right_d], start_state)
                    forward_right = forward_right.index_copy(0, with_right_d, out)
            backward = self._backward_padded(layer, window, reverse_index)  # [N, C + R, H]
            backward_chunks = forward.new_zeros(forward.shape).index_put((row_d, index_d), backward[:, :chunk])
            sequence = torch.cat([forward, backward_chunks], dim=3).reshape(batch, chunks * chunk, -1)
            sequence = sequence[:, :frames] * valid
            if right_context:
                right = torch.cat([forward_right, backward[:, chunk:]], dim=2)
            if layer < layers - 1 and self.training and self.config.dropout:
                sequence = nn.functional.dropout(sequence, self.config.dropout, training=True)
                right = nn.functional.dropout(right, self.config.dropout, training=True)
        logits = self.output(self.dropout(sequence))
        return logits.float().log_softmax(dim=-1) * valid

    def _single_lstm(self, input_size: int) -> nn.LSTM:
        """A 1-layer unidirectional LSTM of the right shape, run with one direction's weights of
        self.lstm through functional_call (its own weights are never used). Kept out of the
        module tree so it is not part of the state dict."""
        modules = self.__dict__.setdefault("_single_lstms", {})
        if input_size not in modules:
            # Its random initialization must not draw from the global generator: it is built at
            # the first forward, so a resumed run would draw other dropout and SpecAugment masks
            # than an uninterrupted one.
            with torch.random.fork_rng(devices=[]):
                modules[input_size] = nn.LSTM(input_size, self.config.hidden_size, batch_first=True)
        return modules[input_size]

    def _direction(self, layer: int, reverse: bool) -> dict[str, torch.Tensor]:
        """The weights of one direction of one layer, named as in a 1-layer unidirectional LSTM."""
        suffix = "_reverse" if reverse else ""
        return {f"{name}_l0": getattr(self.lstm, f"{name}_l{layer}{suffix}") for name in _LSTM_WEIGHTS}

    def _call_direction(self, layer: int, reverse: bool, x, state: tuple[torch.Tensor, torch.Tensor] | None):
        """One direction of one layer, left to right, over x ([N, T, D] or a packed sequence) from
        state ([N, H] each, or zeros) -> (outputs, (h, c) [N, H] after the last step)."""
        hx = None if state is None else (state[0][None].contiguous(), state[1][None].contiguous())
        input_size = self.lstm.input_size if layer == 0 else 2 * self.config.hidden_size
        out, (h, c) = functional_call(self._single_lstm(input_size), self._direction(layer, reverse), (x, hx))
        return out, (h[0], c[0])

    def _run_direction(self, layer: int, reverse: bool, x: torch.Tensor, lengths: torch.Tensor,
                       state: tuple[torch.Tensor, torch.Tensor] | None):
        """One direction of one layer over x [N, T, D] (lengths [N] >= 1, CPU), from state
        ([N, H] each, or zeros), left to right: -> (outputs [N, T, H], (h, c) [N, H] at each length)."""
        if x.is_cuda:
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            out, (h, c) = self._call_direction(layer, reverse, packed, state)
            return pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])[0], (h, c)
        # On the CPU packed sequences are slow (see _lstm_padded), and the state at each length is
        # needed: run each group of rows of one length unpadded (chunks mostly share one length).
        out = x.new_zeros(x.shape[0], x.shape[1], self.config.hidden_size)
        h = x.new_zeros(x.shape[0], self.config.hidden_size)
        c = torch.zeros_like(h)
        for length in lengths.unique().tolist():
            rows = (lengths == length).nonzero().squeeze(1).to(x.device)
            group_state = None if state is None else (state[0][rows], state[1][rows])
            group_out, (group_h, group_c) = self._call_direction(layer, reverse, x[rows, :length], group_state)
            out[rows, :length] = group_out
            h, c = h.index_copy(0, rows, group_h), c.index_copy(0, rows, group_c)
        return out, (h, c)

    def _forward_direction(self, layer: int, x: torch.Tensor, chunk: int, chunk_lengths: torch.Tensor,
                           window_lengths: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]):
        """Forward direction over the window: the chunk from `state` (its end state is carried),
        then the right context from there (not carried). -> (outputs [N, W, H], state)."""
        out_chunk, carried = self._run_direction(layer, False, x[:, :chunk], chunk_lengths, state)
        out = x.new_zeros(x.shape[0], x.shape[1], self.config.hidden_size)
        out[:, :chunk] = out_chunk
        right = window_lengths - chunk_lengths
        rows = (right > 0).nonzero().squeeze(1)
        if len(rows):
            rows_on_device = rows.to(x.device)
            out_right, _ = self._run_direction(layer, False, x[rows_on_device, chunk:], right[rows],
                                               (carried[0][rows_on_device], carried[1][rows_on_device]))
            out[rows_on_device, chunk:] = out_right
        return out, carried

    def _backward_direction(self, layer: int, x: torch.Tensor, window_lengths: torch.Tensor) -> torch.Tensor:
        """Backward direction over each window from zeros at its end: x [N, W, D] -> [N, W, H],
        zeros past each window's length."""
        index = _reverse_within_lengths(x.shape[1], window_lengths).to(x.device)
        valid = length_mask(window_lengths, x.shape[1]).to(x.device)[:, :, None]
        return self._backward_padded(layer, x, index) * valid

    def _backward_padded(self, layer: int, x: torch.Tensor, reverse_index: torch.Tensor) -> torch.Tensor:
        """The backward direction of one layer over padded rows x [N, T, D] -> [N, T, H]: each row
        reversed within its length (reverse_index from `_reverse_within_lengths`), run left to
        right from zeros, and put back in order. Exact up to each length, since the padding then
        comes last; positions past it hold whatever the padding produced."""
        out = self._call_direction(layer, True, _gather_time(x, reverse_index), None)[0]
        return _gather_time(out, reverse_index)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
