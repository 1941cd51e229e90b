import glob, torch
from safetensors.torch import load_file
from PIL import Image
from studio_plugins.gan_breeding.stylegan import StyleGenerator, GeneratorConfig
import json
ck = sorted(glob.glob("data/runs/gan-v1/checkpoint-*.safetensors"))[-1]
sd = load_file(ck)
meta = json.load(open("data/runs/gan-v1/checkpoint.json"))
cfg = GeneratorConfig(**meta["meta"]["config"]) if "meta" in meta else GeneratorConfig()
rows = []
for name in ("G_ema", "G"):
    g = StyleGenerator(cfg)
    g.load_state_dict({k[len(name)+1:]: v for k, v in sd.items() if k.startswith(name + ".")})
    print(name, [round(l.noise_strength.item(), 3) for l in g.layers])
    z = torch.randn(16, 128, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        for noise in (1.0, 0.0):
            rows.append(g(g.mapping(z), noise_seed=1, noise=noise))
s = Image.new("RGB", (1024, 4 * 64))
for r, imgs in enumerate(rows):
    for i, im in enumerate(imgs):
        a = ((im.clamp(-1, 1) + 1) * 127.5).byte().permute(1, 2, 0).numpy()
        s.paste(Image.fromarray(a), (i * 64, r * 64))
s.save("/tmp/noise.png")
