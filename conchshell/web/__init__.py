"""`conchshell serve`: a local web app with two pages, Try it and a blind listening test.

Why Starlette + Jinja2 + uvicorn rather than Gradio: Gradio would add dozens of packages to our locked
environment (FastAPI, pydantic, huggingface-hub, gradio-client, ...), its default theme asks a font CDN
for its fonts and it reports usage analytics unless told not to; the listening test also needs plain
forms, cookies and a SQLite write per rating, which Gradio's component model does not make simpler.
A small ASGI app with server-rendered templates is a few hundred lines we control, serves every byte
itself (no CDN: our CSS and JS come from conchshell/web/static) and is driven by ordinary browser tests.

Modules:
    app          the Starlette application: settings, routes, one-line error pages
    pages        template rendering and the message page
    try_page     Try it: upload or example, options, results at their own URLs
    listen_page  the listening test's routes (signed sessions, fixed trials, ratings after play)
    session      signed rater session cookies
    results      the Try-it results kept in memory, and the visit's list
    examples     one val picture per category
    composer     the warm pipeline behind one lock: generation requests are queued, one at a time
    spectrogram  the page's large mel-spectrogram
    uploads      picture upload → RGB uint8 [size, size, 3], refusing oversize files and decompression bombs
    trials       the listening test's sample pool and blind, randomised trial choice
    serve        `conchshell serve`: build the app and run uvicorn
The ratings database, MOS, screening and agreement live in conchshell.evaluation.listening.
"""
