use proc_macro::TokenStream;

#[proc_macro_attribute]
pub fn cache(_args: TokenStream, item: TokenStream) -> TokenStream {
    item
}

#[proc_macro_attribute]
pub fn invalidate(_args: TokenStream, item: TokenStream) -> TokenStream {
    item
}
