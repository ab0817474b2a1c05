"""One Gradio tab module per method (UI only); each exposes TITLE, ABOUT and build(ctx)."""

# Tab order in the app. Each name is a module demos/<name>.py.
TABS = ("vae", "gans", "stylegan", "translation", "diffusion", "text2image", "lora", "evaluate")
