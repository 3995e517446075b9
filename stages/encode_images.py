"""Stage `encode_images`: every prepared picture → I3D S-T features and the TCNN's prediction.

picture → ImageBranch (TCNN normalisation from models/tcnn.pt → TCNN → Algorithm 1 → frozen I3D) →
data/features/images.h5: ids (manifest order, all splits), st_features float32 [N, C, T'] (i3d.arch
inception: [N, 1024, 2]; r50: [N, 2048, 9]), pred_label int64 [N], probs float32 [N, C]; attrs image_encoder,
tcnn_sha256, i3d_arch, i3d_sha256, i3d_pretrained, i3d (json: the I3D identity, conchshell.artifacts.checkpoints), categories (json). Written atomically (conchshell.artifacts.stores.write_image_store).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from conchshell import paths
from conchshell.artifacts.checkpoints import i3d_identity, load_tcnn
from conchshell.artifacts.i3d import build_i3d
from conchshell.artifacts.stores import write_image_store
from conchshell.config import load_config
from conchshell.data.manifest import categories, read_manifest
from conchshell.errors import ConchError, report_errors
from conchshell.io import guard_temporaries, state_dict_sha256, sweep_folders
from conchshell.models.image_branch import ImageBranch, encode_pictures
from conchshell.training.tcnn import load_pictures


@report_errors
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default=str(paths.PARAMS), help="parameters file (default params.yaml)")
    parser.add_argument("--prepared", default=str(paths.PREPARED), help="prepared data folder")
    parser.add_argument("--tcnn", default=str(paths.TCNN), help="TCNN checkpoint")
    parser.add_argument("--out", default=str(paths.IMAGES_H5), help="output HDF5 store")
    args = parser.parse_args(argv)
    guard_temporaries()  # a kill -9 leaves no temporary, even if DVC then restores from its run cache
    sweep_folders(Path(args.out).parent)  # a killed run's temporaries
    cfg = load_config(args.params)
    prepared = Path(args.prepared)
    manifest, names = read_manifest(prepared), categories(prepared)
    tcnn_ckpt = load_tcnn(args.tcnn)
    tcnn, tcnn_names = tcnn_ckpt.model, tcnn_ckpt.categories
    if tcnn.arch != cfg.image_encoder:
        raise ConchError(f"{args.tcnn}: holds {tcnn.arch} but image_encoder is {cfg.image_encoder}; re-run train_tcnn")
    if tcnn_names != names:
        raise ConchError(
            f"{args.tcnn}: trained on categories {tcnn_names}, the prepared data has {names}; re-run train_tcnn"
        )
    i3d = build_i3d(cfg.i3d.checkpoint, seed=cfg.seed, arch=cfg.i3d.arch)
    branch = ImageBranch(tcnn, i3d, tcnn_ckpt.mean, tcnn_ckpt.std, tcnn.arch)
    pictures = load_pictures(prepared, manifest, cfg.data.image_size)
    st, pred, probs = encode_pictures(branch, pictures, cfg.i3d.batch_size)
    attrs = {
        "image_encoder": tcnn.arch,
        "tcnn_sha256": state_dict_sha256(tcnn.state_dict()),
        "i3d_arch": i3d.arch,
        "i3d_sha256": i3d.sha256(),
        "i3d": json.dumps(i3d_identity(i3d, cfg.i3d.checkpoint, cfg.seed)),
        "i3d_pretrained": bool(i3d.pretrained),
        "categories": json.dumps(names),
    }
    write_image_store(args.out, list(manifest["id"]), st.numpy(), pred.numpy(), probs.numpy(), attrs)
    print(f"encode_images: {len(manifest)} pictures → {args.out} (S-T features {tuple(st.shape[1:])})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
