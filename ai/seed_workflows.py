"""The seeded public workflow templates users copy (staff edit them in the admin)."""

TEMPLATES = [
    {
        "slug": "blog-launch-kit",
        "name": "Blog launch kit",
        "description": "Research a topic, write a blog post, its SEO meta and three "
        "social posts announcing it.",
        "inputs": ["topic", "audience"],
        "steps": [
            {
                "name": "research",
                "type": "",
                "agent": "",
                "prompt": "List the key facts, questions and angles a blog post about "
                "{{ inputs.topic }} for {{ inputs.audience }} should cover.",
            },
            {
                "name": "blog_post",
                "type": "blog_post",
                "agent": "",
                "prompt": "{{ inputs.topic }}\n\nAudience: {{ inputs.audience }}\n\n"
                "Research notes:\n{{ steps.research }}",
            },
            {
                "name": "seo",
                "type": "seo_meta",
                "agent": "",
                "prompt": "{{ inputs.topic }}\n\n{{ steps.blog_post }}",
            },
            {
                "name": "social",
                "type": "social_post",
                "agent": "",
                "prompt": "Write three posts announcing this blog post:\n\n"
                "{{ steps.blog_post }}",
            },
        ],
    },
    {
        "slug": "newsletter-from-notes",
        "name": "Newsletter from notes",
        "description": "Turn rough notes into an outline, then a newsletter e-mail.",
        "inputs": ["notes"],
        "steps": [
            {
                "name": "outline",
                "type": "",
                "agent": "",
                "prompt": "Organise these notes into a newsletter outline with "
                "three sections:\n\n{{ inputs.notes }}",
            },
            {
                "name": "email",
                "type": "email",
                "agent": "",
                "prompt": "Write the newsletter from this outline:\n\n"
                "{{ steps.outline }}",
            },
        ],
    },
    {
        "slug": "product-launch",
        "name": "Product launch",
        "description": "A product description, ad copy and a short video script.",
        "inputs": ["product", "features"],
        "steps": [
            {
                "name": "description",
                "type": "product_description",
                "agent": "",
                "prompt": "{{ inputs.product }}: {{ inputs.features }}",
            },
            {
                "name": "ads",
                "type": "ad_copy",
                "agent": "",
                "prompt": "{{ inputs.product }}\n\n{{ steps.description }}",
            },
            {
                "name": "video",
                "type": "video_script",
                "agent": "",
                "prompt": "A 30-second launch video for {{ inputs.product }}.\n\n"
                "{{ steps.description }}",
            },
        ],
    },
]
