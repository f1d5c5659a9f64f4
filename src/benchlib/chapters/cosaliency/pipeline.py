"""Pipeline of the co-saliency chapter: build the frozen ImageNet encoder and cache its features, train
the Table 1 / Table 2 variants' heads on both datasets for every seed, score them and FT on the test
splits, and time the test path (no plotting, no result writing here)."""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import numpy as np

from benchlib import BenchlibError
from benchlib.metrics.saliency import aggregate
from benchlib.chapters import ChapterConfig
from benchlib.torchutil import TrainingCheckpoint, pick_device, set_threads

from . import control, data
from .evaluate import PAPER_SIZES, SELECTIVITY_KEYS, ft_maps, measure_fps, oracle_maps, score_maps, selectivity
from .models import ABLATION, VARIANTS, CoSalHead, CoSalNet, VGG16Encoder, build_encoder, encoder_name
from .train import (FeatureBank, TrainConfig, encode_items, fit, new_head, predict, to_training_arrays,
                    variant_checkpoint)

# Table 2's learned rows are Table 1 columns (the paper's numbers agree: 0.824 / 0.892 / 0.904).
TABLE2_METHODS = {"U-Net": "U-Net", "Ours (offline)": "U-Net + DA + FS + RFM (offline)",
                  "Ours (online)": "U-Net + DA + FS + RFM (online)"}
DATASETS = {"cosal": "our_dataset", "sdcs": "SDCS"}  # twin kind -> the paper's subset name
DEFAULT_ABLATION = ["U-Net", "U-Net + DA", "U-Net + DA + FS", "U-Net + DA + FS + RFM (offline)",
                    "U-Net + DA + FS + RFM (online)"]


@dataclass
class Config(ChapterConfig):
    """The notebook's parameters (same names, same defaults as its parameters cell); the shared ones
    (seed, n_seeds, device, threads, data_root, checkpointing, profile, results_root) are ChapterConfig's.
    ``data_root``: a folder holding Image/ and GT/ is used as real data."""

    n_images: int = 140           # paper-shaped twin: images (split into train and test by test_fraction)
    n_sdcs: int = 100             # SDCS-shaped twin: images
    test_fraction: float = 0.5    # share of each dataset held out for testing (seeded split)
    train_size: int = 160         # images are squashed to a square of this side (R: train_size / 16 a side)
    width: int = 64               # FS block / R width, decoder blocks half of it; 0: the encoder's own widths
    out_stride: int = 4           # the decoder's finest stride (logits upsampled from there); 1: full resolution
    epochs: int = 3               # lr ×0.1 after 3/8 of the steps, as the paper's schedule
    batch_size: int = 8
    lr: float = 0.004
    aug_copies: int = 2           # augmented copies per training image whose features are cached
    cache_features: bool = True   # run the frozen encoder once per image (False: per batch)
    vgg_weights: str = ""         # ImageNet VGG-16 state dict (the paper's encoder); empty: EfficientNet-Lite0
    ablation: list = field(default_factory=lambda: list(DEFAULT_ABLATION))  # Table 1 columns to train
    fps_repeats: int = 1          # timed runs of the test path after a warm-up run
    full_width_fps: str = "smallest"  # time this run's and the full-width network at the paper's "smallest" or
                                      # "both" sizes; "none": this run's only, at the smallest
    sdcs_root: str = ""           # the SDCS-like dataset; empty: its twin
    control_images: int = 60      # the RFM control's test images (each shown with its distractor single and
                                  # paired); 0: no control
    control_epochs: int = 20      # > 0: also train one online model (first seed) this long for the control's
                                  # diagnosis (does a longer-trained RFM learn the comparison?); 0: off


@dataclass
class Split:
    key: str            # "cosal" | "sdcs"
    subset: str         # the paper's subset name
    dataset: str        # what the result rows name
    train: data.SaliencySet
    test: data.SaliencySet
    is_twin: bool = True


def load_split(data_root, kind: str, n_images: int, seed: int, test_fraction: float) -> Split:
    """Real folder at ``data_root`` when present, else the seeded twin; seeded train/test split."""
    ds = data.dataset(data_root, kind, n_images, seed)
    full = data.load_saliency_folder(ds.root)
    tr, te = data.split_indices(len(full), test_fraction, seed)
    return Split(kind, DATASETS[kind], ds.name, full.subset(tr), full.subset(te), ds.is_twin)


@dataclass
class Run:
    """Everything the report shows: splits, maps (first seed), per-image scores per seed,
    training histories, the frozen encoder, speed, and what was (not) run."""

    config: Config
    device: str
    splits: dict
    train_config: TrainConfig
    seeds: list
    methods: dict            # dataset key -> method names run (FT + variant names)
    maps: dict               # key -> method -> list of maps (first seed)
    scores: dict             # key -> method -> list (per seed) of per-image score dicts (FT, oracles: one)
    selectivity: dict        # key -> method -> list (per seed) of per-image response dicts (evaluate.selectivity)
    histories: dict          # key -> variant -> list (per seed) of histories
    encoder_info: dict       # the frozen encoder: name, feature-cache size
    fps: list                # test path of the trained network (this run's encoder and head) at the paper's sizes
    timings: dict
    fps_full: list = field(default_factory=list)  # the full-width network (VGG-16 widths)
    control: dict = field(default_factory=dict)   # the RFM control (control.py): kind -> method -> per seed

    def per_image(self, key, method):
        """Per-image scores averaged over seeds (so a paired comparison pairs images)."""
        runs = self.scores[key][method]
        return {k: np.mean([r[k] for r in runs], axis=0) for k in runs[0]}

    def per_seed(self, key, method, metric):
        """One array of per-image values per seed; a method that does not depend on the seed (FT, the
        oracles) is repeated for every seed, so that it pairs with the trained models seed by seed.
        `metric` is a score (adaptive_f, mae, ...) or a selectivity key (cosalient, distractor, ...)."""
        table = self.selectivity if metric in SELECTIVITY_KEYS else self.scores
        if method not in table[key]:
            return None
        runs = table[key][method]
        if len(runs) == 1 and len(self.seeds) > 1:
            runs = runs * len(self.seeds)
        return [np.asarray(r[metric], float) for r in runs]

    def summary(self, key, method):
        return aggregate(self.per_image(key, method))


def run(config: Config, log=print) -> Run:
    """Load (or generate) both datasets, build the frozen encoder, train every variant, score FT
    and the variants on the test splits, time the test path. ``config.ablation``: the Table 1
    columns to run on the paper-shaped dataset (Table 2's three learned rows always run, on both)."""
    set_threads(config.threads)
    device = str(pick_device(config.device))
    cfg = TrainConfig(train_size=config.train_size, width=config.width, out_stride=config.out_stride,
                      epochs=config.epochs, batch_size=config.batch_size, lr=config.lr, aug_copies=config.aug_copies,
                      cache_features=config.cache_features, device=device)
    ablation = list(config.ablation)
    unknown = set(ablation) - set(VARIANTS)
    if unknown:
        raise BenchlibError(f"unknown ablation column(s) {sorted(unknown)}; choose from {list(VARIANTS)}")
    if config.train_size < 16 or config.train_size % 16:
        raise BenchlibError(f"train_size must be a positive multiple of 16 (the stride of R), got {config.train_size}")
    if config.out_stride not in (1, 2, 4, 8, 16) or config.width < 0:
        raise BenchlibError(f"out_stride must be 1, 2, 4, 8 or 16 and width ≥ 0, got {config.out_stride} and "
                            f"{config.width}")
    if not 0 < config.test_fraction < 1:
        raise BenchlibError(f"test_fraction must lie strictly between 0 and 1, got {config.test_fraction}")
    if config.aug_copies < 1 and any(VARIANTS[n].augment for n in ablation):
        raise BenchlibError(f"aug_copies must be ≥ 1 when an augmented (DA) column is trained, got {config.aug_copies}")
    t0 = time.perf_counter()
    sdcs_root = config.sdcs_root
    if not sdcs_root and config.data_root and not data.is_saliency_folder(config.data_root):
        sdcs_root = config.data_root  # both twins live under the same data root
    splits = {"cosal": load_split(config.data_root, "cosal", config.n_images, config.seed, config.test_fraction),
              "sdcs": load_split(sdcs_root, "sdcs", config.n_sdcs, config.seed, config.test_fraction)}
    timings = {"data_s": time.perf_counter() - t0}
    wanted = {"cosal": [v.name for v in ABLATION if v.name in ablation or v.name in TABLE2_METHODS.values()],
              "sdcs": list(TABLE2_METHODS.values())}
    methods = {k: ["FT"] + wanted[k] for k in splits}
    maps = {k: {"FT": ft_maps(s.test)} for k, s in splits.items()}
    scores = {k: {"FT": [score_maps(maps[k]["FT"], s.test)]} for k, s in splits.items()}
    select = {k: {"FT": [selectivity(maps[k]["FT"], s.test)]} for k, s in splits.items()}
    for k, s in splits.items():
        for name, m in oracle_maps(s.test).items():
            scores[k][name], select[k][name] = [score_maps(m, s.test)], [selectivity(m, s.test)]
    histories = {k: {} for k in splits}
    timings["ft_s"] = time.perf_counter() - t0 - timings["data_s"]
    t = time.perf_counter()
    # One frozen encoder for every seed, variant and dataset, like the paper's one ImageNet VGG-16: its
    # features are computed once per image (and augmented copy) and only the heads are trained.
    encoder = build_encoder(config.vgg_weights, device)
    banks = {k: FeatureBank(encoder, to_training_arrays(s.train, cfg.train_size), cfg, config.seed)
             for k, s in splits.items()}
    test_stages = {k: encode_items(encoder, s.test, cfg) for k, s in splits.items()}
    timings["encoder_s"] = time.perf_counter() - t
    seeds = config.seeds
    ctl = control.Control.build(encoder, config.control_images, config.seed, cfg) if config.control_images else None
    head = None
    for s_ in seeds:
        for key, split in splits.items():
            for name in wanted[key]:
                t = time.perf_counter()
                ck = variant_checkpoint(config.checkpoint_folder(), config.checkpoint_every, name, key, s_, cfg,
                                        banks[key], encoder_name(config.vgg_weights))
                head = new_head(VARIANTS[name], encoder, cfg, s_)
                hist = fit(head, banks[key], cfg, seed=s_, device=device, checkpoint=ck, variant=VARIANTS[name])
                pred = predict(head, encoder, split.test, cfg, test_stages[key])
                if s_ == seeds[0]:
                    maps[key][name] = pred
                if ctl is not None and key == "cosal":
                    ctl.score(name, head)
                scores[key].setdefault(name, []).append(score_maps(pred, split.test))
                select[key].setdefault(name, []).append(selectivity(pred, split.test))
                histories[key].setdefault(name, []).append(hist)
                dt = time.perf_counter() - t
                timings[f"train {key} {name}"] = timings.get(f"train {key} {name}", 0) + dt
                log(f"seed {s_} {key:5s} {name:32s} adaptive F {np.mean(scores[key][name][-1]['adaptive_f']):.3f}"
                    f"  ({dt:.0f} s)")
        if ctl is not None:  # the RFM control's repair, on the paper-shaped twin like the Table 1 columns
            t = time.perf_counter()
            ctl.train_repair(banks["cosal"], cfg, s_)
            timings["control: repair"] = timings.get("control: repair", 0) + time.perf_counter() - t
    if ctl is not None and config.control_epochs:
        t = time.perf_counter()
        ctl.train_long(banks["cosal"], dataclasses.replace(cfg, epochs=config.control_epochs), seeds[0])
        timings["control: long training"] = time.perf_counter() - t
    # (the augmented copies are encoded on the first augmented variant's use: in that variant's time)
    cached = [st for b in banks.values() for st in ([b.plain] + [c[0] for c in b.copies or []]) if st is not None]
    encoder_info = {"encoder": encoder_name(config.vgg_weights), "input": f"{cfg.train_size}×{cfg.train_size}",
                    "R": f"{cfg.train_size // 16}×{cfg.train_size // 16} (stride 16)",
                    "cached feature maps (MB)": round(sum(x.numel() * 4 for stages in cached for x in stages
                                                          if x is not None) / 2 ** 20, 1),
                    "cached images (train + augmented copies)": sum(len(st[-1]) for st in cached)}
    t = time.perf_counter()
    sizes = {"none": (), "smallest": PAPER_SIZES[:1], "both": PAPER_SIZES}.get(config.full_width_fps)
    if sizes is None:
        raise BenchlibError(f"full_width_fps must be 'none', 'smallest' or 'both', not {config.full_width_fps!r}")
    # this run's network at the same sizes as the full-width one (at least the smallest)
    fps = measure_fps(CoSalNet(encoder, head).eval(), device, sizes=sizes or PAPER_SIZES[:1],
                      repeats=config.fps_repeats) if head is not None else []
    if sizes:
        # the paper's network at full width: VGG-16 and its mirrored U-Net decoder at full
        # resolution (random weights: speed does not depend on them)
        vgg = VGG16Encoder(1)
        full = CoSalNet(vgg, CoSalHead(vgg.widths, vgg.strides, branches=False)).to(device).eval()
        fps_full = measure_fps(full, device, sizes=sizes, repeats=config.fps_repeats)
    else:
        fps_full = []
    timings["fps_s"] = time.perf_counter() - t
    if config.checkpoint_every:
        TrainingCheckpoint.remove_all(config.checkpoint_folder())  # everything trained is measured
    return Run(config, device, splits, cfg, seeds, methods, maps, scores, select, histories, encoder_info, fps,
               timings, fps_full, ctl.results if ctl is not None else {})
