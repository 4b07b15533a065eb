"""Campaign instructions: Markdown rendered to HTML, then sanitised so that no script or handler survives."""
import markdown
import nh3

ALLOWED_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "b", "i", "code", "pre", "blockquote",
    "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td", "dl", "dt", "dd", "img", "abbr", "sup", "sub",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "abbr": {"title"},
                      "th": {"align"}, "td": {"align"}}


def render_markdown(text: str) -> str:
    """Safe HTML for analyst-written Markdown (raw HTML in the source is escaped or stripped)."""
    html = markdown.markdown(text or "", extensions=["extra", "sane_lists"], output_format="html")
    return nh3.clean(html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, url_schemes={"http", "https", "mailto"},
                     clean_content_tags={"script", "style"}, link_rel="noopener noreferrer nofollow")
