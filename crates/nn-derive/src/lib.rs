//! # nn-derive
//!
//! `#[derive(Module)]` for the `nn` deep-learning library: a struct's
//! parameters, buffers and sub-modules are found from its fields and named
//! after them as PyTorch's `state_dict` names them (`encoder.0.weight`).
//!
//! Use it through `nn_layers::Module` or `nnkit::prelude::*`, which
//! re-export it beside the trait of the same name; the documentation with
//! examples is on the re-export (`nn_layers::module`). What each field
//! becomes, from its type as written:
//!
//! | field type | becomes |
//! | --- | --- |
//! | `Parameter<T>` | a parameter named after the field |
//! | `Option<Parameter<T>>` | the same when present (a layer's optional bias) |
//! | `Vec<Parameter<T>>` | parameters `name.0`, `name.1`, … (`ParameterList`) |
//! | `Buffer<T>`, `Option<Buffer<T>>`, `Vec<Buffer<T>>` | the same, as buffers |
//! | `TrainFlag` | the module's own train/eval flag (at most one) |
//! | `LayerRng` | a random generator saved in training checkpoints |
//! | `PhantomData<_>` | nothing |
//! | `Option<M>` | the sub-module `M` when present, nothing when absent |
//! | any other type `M` | a sub-module: `M` must implement `Module` (`Vec<M>` does, as PyTorch's `ModuleList`) |
//! | `#[module(skip)]` on any field | nothing (sizes, configs, plain generators) |
//!
//! An enum whose variants each hold one module is that module,
//! transparently (names, type name, flag and counts of the variant present):
//! a model that is an RNN, an LSTM or a GRU.
//!
//! The element type is the struct's type parameter bounded by `Element`
//! (or named `T`); for a struct without one, the first `f32`/`f64`
//! written in a field type, or `#[module(element = f32)]`; failing that the
//! impl is generic over every element type its fields support. Struct
//! attributes: `#[module(macs = path)]` reports multiply-accumulates
//! through `fn(&Self, &[usize], &[usize]) -> Option<u64>`,
//! `#[module(name = "Conv2d")]` sets the summary's type name,
//! `#[module(crate = path)]` names the `nn_layers` crate if it is renamed.
//! A field attribute `#[module(name = "...")]` renames its entry.

#![forbid(unsafe_code)]

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{
    parse_macro_input, parse_quote, Data, DeriveInput, Fields, GenericArgument, GenericParam,
    Generics, Ident, LitStr, Path, PathArguments, Type, TypeParamBound,
};

/// Implements `nn_layers::Module<T>` from the struct's fields (see the crate docs).
#[proc_macro_derive(Module, attributes(module))]
pub fn derive_module(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand(input, parse_quote!(::nn_layers))
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// The same derive for users of the `nnkit` facade, which re-exports it as
/// `Module`: the generated code names `::nnkit::layers`, the crate such a
/// user can reach, where [`macro@Module`] names `::nn_layers`.
#[doc(hidden)]
#[proc_macro_derive(FacadeModule, attributes(module))]
pub fn derive_facade_module(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand(input, parse_quote!(::nnkit::layers))
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// What a field contributes to the module.
enum Role {
    Parameter,
    OptionalParameter,
    ParameterList,
    Buffer,
    OptionalBuffer,
    BufferList,
    Flag,
    Rng,
    Child,
    OptionalChild(Box<Type>),
    Skip,
}

/// One field: how to reach it, its state_dict name, its type and role.
struct Field {
    member: TokenStream2,
    name: LitStr,
    ty: Type,
    role: Role,
}

/// Struct-level `#[module(...)]` settings.
#[derive(Default)]
struct StructAttrs {
    krate: Option<Path>,
    element: Option<Type>,
    macs: Option<Path>,
    name: Option<LitStr>,
}

/// The last path segment of `ty` and its first generic type argument:
/// `Option<Linear<T>>` → (`Option`, `Linear<T>`).
fn head(ty: &Type) -> Option<(&Ident, Option<&Type>)> {
    let Type::Path(p) = ty else { return None };
    if p.qself.is_some() {
        return None;
    }
    let seg = p.path.segments.last()?;
    let arg = match &seg.arguments {
        PathArguments::AngleBracketed(a) => a.args.iter().find_map(|g| match g {
            GenericArgument::Type(t) => Some(t),
            _ => None,
        }),
        _ => None,
    };
    Some((&seg.ident, arg))
}

fn head_is(ty: &Type, name: &str) -> bool {
    head(ty).is_some_and(|(i, _)| i == name)
}

/// The role a field plays, from its type as written.
fn role_of(ty: &Type) -> Role {
    let Some((ident, arg)) = head(ty) else {
        return Role::Child;
    };
    let inner_is = |name| arg.is_some_and(|a| head_is(a, name));
    match ident.to_string().as_str() {
        "Parameter" => Role::Parameter,
        "Buffer" => Role::Buffer,
        "TrainFlag" => Role::Flag,
        "LayerRng" => Role::Rng,
        "PhantomData" => Role::Skip,
        "Option" if inner_is("Parameter") => Role::OptionalParameter,
        "Option" if inner_is("Buffer") => Role::OptionalBuffer,
        "Option" => match arg {
            Some(inner) => Role::OptionalChild(Box::new(inner.clone())),
            None => Role::Child,
        },
        "Vec" if inner_is("Parameter") => Role::ParameterList,
        "Vec" if inner_is("Buffer") => Role::BufferList,
        _ => Role::Child,
    }
}

fn parse_struct_attrs(input: &DeriveInput) -> syn::Result<StructAttrs> {
    let mut out = StructAttrs::default();
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("module")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("crate") {
                out.krate = Some(meta.value()?.parse()?);
            } else if meta.path.is_ident("element") {
                out.element = Some(meta.value()?.parse()?);
            } else if meta.path.is_ident("macs") {
                out.macs = Some(meta.value()?.parse()?);
            } else if meta.path.is_ident("name") {
                out.name = Some(meta.value()?.parse()?);
            } else {
                return Err(meta.error(
                    "unknown #[module] option on a struct; expected `crate`, `element`, `macs` or `name`",
                ));
            }
            Ok(())
        })?;
    }
    Ok(out)
}

/// A field's `#[module(skip)]` and `#[module(name = "...")]`.
fn parse_field_attrs(field: &syn::Field) -> syn::Result<(bool, Option<LitStr>)> {
    let (mut skip, mut name) = (false, None);
    for attr in field.attrs.iter().filter(|a| a.path().is_ident("module")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("skip") {
                skip = true;
            } else if meta.path.is_ident("name") {
                name = Some(meta.value()?.parse()?);
            } else {
                return Err(meta.error(
                    "unknown #[module] option on a field; expected `skip` or `name = \"...\"`",
                ));
            }
            Ok(())
        })?;
    }
    Ok((skip, name))
}

fn fields_of(input: &DeriveInput) -> syn::Result<Vec<Field>> {
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new(
            input.ident.span(),
            "#[derive(Module)] needs a struct (its fields are the module's parts) \
             or an enum whose variants each hold one module",
        ));
    };
    let fields: Vec<&syn::Field> = match &data.fields {
        Fields::Named(f) => f.named.iter().collect(),
        Fields::Unnamed(f) => f.unnamed.iter().collect(),
        Fields::Unit => Vec::new(),
    };
    fields
        .into_iter()
        .enumerate()
        .map(|(i, f)| {
            let (skip, rename) = parse_field_attrs(f)?;
            let (member, default_name) = match &f.ident {
                Some(id) => (id.to_token_stream(), id.to_string()),
                None => (syn::Index::from(i).to_token_stream(), i.to_string()),
            };
            let default_name = default_name.trim_start_matches("r#").to_string();
            Ok(Field {
                member,
                name: rename.unwrap_or_else(|| LitStr::new(&default_name, f.span())),
                ty: f.ty.clone(),
                role: if skip { Role::Skip } else { role_of(&f.ty) },
            })
        })
        .collect()
}

/// The struct's element type parameter: the one bounded by `Element`, else one named `T`.
fn element_param(generics: &Generics) -> Option<Ident> {
    let params = || {
        generics.params.iter().filter_map(|p| match p {
            GenericParam::Type(t) => Some(t),
            _ => None,
        })
    };
    let bounded = params().find(|t| {
        let in_where = generics.where_clause.iter().any(|w| {
            w.predicates.iter().any(|pred| match pred {
                syn::WherePredicate::Type(pt) => {
                    head_is(&pt.bounded_ty, &t.ident.to_string())
                        && pt.bounds.iter().any(bound_is_element)
                }
                _ => false,
            })
        });
        t.bounds.iter().any(bound_is_element) || in_where
    });
    bounded
        .or_else(|| params().find(|t| t.ident == "T"))
        .map(|t| t.ident.clone())
}

fn bound_is_element(b: &TypeParamBound) -> bool {
    matches!(b, TypeParamBound::Trait(t)
        if t.path.segments.last().is_some_and(|s| s.ident == "Element"))
}

/// The first `f32` or `f64` written in a field's type (`Linear<f32>` → `f32`).
fn float_in(ty: &Type) -> Option<Type> {
    let mut found = None;
    visit_types(ty, &mut |t| {
        if found.is_none() && (head_is(t, "f32") || head_is(t, "f64")) {
            found = Some(t.clone());
        }
    });
    found
}

/// Calls `f` on `ty` and every type nested in its generic arguments.
fn visit_types(ty: &Type, f: &mut dyn FnMut(&Type)) {
    f(ty);
    match ty {
        Type::Path(p) => {
            for seg in &p.path.segments {
                if let PathArguments::AngleBracketed(a) = &seg.arguments {
                    for arg in &a.args {
                        if let GenericArgument::Type(t) = arg {
                            visit_types(t, f);
                        }
                    }
                }
            }
        }
        Type::Reference(r) => visit_types(&r.elem, f),
        Type::Array(a) => visit_types(&a.elem, f),
        Type::Slice(s) => visit_types(&s.elem, f),
        Type::Tuple(t) => t.elems.iter().for_each(|e| visit_types(e, f)),
        Type::Paren(p) => visit_types(&p.elem, f),
        Type::Group(g) => visit_types(&g.elem, f),
        _ => {}
    }
}

/// True when `ty` mentions one of `params` (so its `Module` impl must be
/// required of the caller rather than checked here).
fn mentions(ty: &Type, params: &[Ident]) -> bool {
    if params.is_empty() {
        return false;
    }
    // Trait objects and the like are compared as tokens: any identifier of
    // a parameter counts.
    fn idents(ts: TokenStream2, params: &[Ident]) -> bool {
        ts.into_iter().any(|tt| match tt {
            proc_macro2::TokenTree::Ident(i) => params.contains(&i),
            proc_macro2::TokenTree::Group(g) => idents(g.stream(), params),
            _ => false,
        })
    }
    idents(ty.to_token_stream(), params)
}

fn expand(input: DeriveInput, default_crate: Path) -> syn::Result<TokenStream2> {
    let attrs = parse_struct_attrs(&input)?;
    let krate = attrs.krate.clone().unwrap_or(default_crate);
    if let Data::Enum(data) = &input.data {
        return expand_enum(&input, data, &attrs, &krate);
    }
    let fields = fields_of(&input)?;

    let flags: Vec<&Field> = fields
        .iter()
        .filter(|f| matches!(f.role, Role::Flag))
        .collect();
    if let Some(second) = flags.get(1) {
        return Err(syn::Error::new(
            second.ty.span(),
            "a module has one train/eval flag: mark the other `TrainFlag` fields #[module(skip)]",
        ));
    }

    // The element type, and whether the impl adds its own generic parameter.
    let struct_params: Vec<Ident> = input
        .generics
        .type_params()
        .map(|t| t.ident.clone())
        .collect();
    let fresh: Ident = Ident::new("__NnElement", Span::call_site());
    let (element, element_ident, is_fresh): (Type, Option<Ident>, bool) =
        if let Some(t) = attrs.element.clone() {
            (t, None, false)
        } else if let Some(p) = element_param(&input.generics) {
            (parse_quote!(#p), Some(p), false)
        } else if let Some(t) = fields
            .iter()
            .filter(|f| !matches!(f.role, Role::Skip))
            .find_map(|f| float_in(&f.ty))
        {
            (t, None, false)
        } else {
            (parse_quote!(#fresh), Some(fresh.clone()), true)
        };

    // Sub-modules whose type involves the struct's other type parameters
    // (`encoder: E`) must be modules for the impl to exist: required in the
    // where clause. With a fresh element parameter every sub-module is.
    let other_params: Vec<Ident> = struct_params
        .iter()
        .filter(|p| Some(*p) != element_ident.as_ref())
        .cloned()
        .collect();
    let mut generics = input.generics.clone();
    if is_fresh {
        generics
            .params
            .push(parse_quote!(#fresh: #krate::__derive::Element));
    }
    {
        let where_clause = generics.make_where_clause();
        for f in &fields {
            let child = match &f.role {
                Role::Child => &f.ty,
                Role::OptionalChild(inner) => inner,
                _ => continue,
            };
            if is_fresh || mentions(child, &other_params) {
                where_clause
                    .predicates
                    .push(parse_quote!(#child: #krate::Module<#element>));
            }
        }
    }
    let (impl_generics, _, where_clause) = generics.split_for_impl();
    let (_, ty_generics, _) = input.generics.split_for_impl();
    let ident = &input.ident;

    let mut params = Vec::new();
    let mut buffers = Vec::new();
    let mut children = Vec::new();
    let mut rngs = Vec::new();
    let mut flag = None;
    for f in &fields {
        let (m, name) = (&f.member, &f.name);
        let span = f.ty.span();
        match &f.role {
            Role::Parameter => params.push(quote!(f(#name, &self.#m);)),
            Role::OptionalParameter => {
                params.push(quote!(if let Some(p) = &self.#m { f(#name, p); }))
            }
            Role::ParameterList => params.push(quote! {
                for (i, p) in self.#m.iter().enumerate() { f(&format!("{}.{}", #name, i), p); }
            }),
            Role::Buffer => buffers.push(quote!(f(#name, &self.#m);)),
            Role::OptionalBuffer => {
                buffers.push(quote!(if let Some(b) = &self.#m { f(#name, b); }))
            }
            Role::BufferList => buffers.push(quote! {
                for (i, b) in self.#m.iter().enumerate() { f(&format!("{}.{}", #name, i), b); }
            }),
            Role::Flag => flag = Some(quote!(::core::option::Option::Some(&self.#m))),
            Role::Rng => rngs.push(quote!(f(#name, &self.#m);)),
            // Spanned at the field's type, so "the trait `Module` is not
            // implemented" points at the field that is not a module.
            Role::Child => children.push(quote_spanned!(span=> f(#name, &self.#m);)),
            Role::OptionalChild(_) => {
                children.push(quote_spanned!(span=> if let Some(c) = &self.#m { f(#name, c); }))
            }
            Role::Skip => {}
        }
    }

    let d = quote!(#krate::__derive);
    let mut body = TokenStream2::new();
    if let Some(name) = &attrs.name {
        body.extend(quote!(fn type_name(&self) -> &'static str { #name }));
    }
    if !params.is_empty() {
        body.extend(quote! {
            fn visit_local_parameters(&self, f: &mut dyn FnMut(&str, &#d::Parameter<#element>)) {
                #(#params)*
            }
        });
    }
    if !buffers.is_empty() {
        body.extend(quote! {
            fn visit_local_buffers(&self, f: &mut dyn FnMut(&str, &#krate::Buffer<#element>)) {
                #(#buffers)*
            }
        });
    }
    if !children.is_empty() {
        body.extend(quote! {
            fn visit_children(&self, f: &mut dyn FnMut(&str, &dyn #krate::Module<#element>)) {
                #(#children)*
            }
        });
    }
    if let Some(flag) = flag {
        body.extend(quote! {
            fn train_flag(&self) -> ::core::option::Option<&#krate::TrainFlag> { #flag }
        });
    }
    if !rngs.is_empty() {
        body.extend(quote! {
            fn visit_local_rngs(&self, f: &mut dyn FnMut(&str, &#krate::LayerRng)) {
                #(#rngs)*
            }
        });
    }
    if let Some(macs) = &attrs.macs {
        body.extend(quote! {
            fn macs(&self, input_shape: &[usize], output_shape: &[usize]) -> ::core::option::Option<u64> {
                #macs(self, input_shape, output_shape)
            }
        });
    }

    Ok(quote! {
        #[automatically_derived]
        impl #impl_generics #krate::Module<#element> for #ident #ty_generics #where_clause {
            #body
        }
    })
}

/// An enum whose variants each hold one module (`enum Recurrent { Rnn(Rnn<T>),
/// Lstm(Lstm<T>) }`) is that module, transparently: same names, same type
/// name, same flag, as if the enum were not there.
fn expand_enum(
    input: &DeriveInput,
    data: &syn::DataEnum,
    attrs: &StructAttrs,
    krate: &Path,
) -> syn::Result<TokenStream2> {
    let mut variants = Vec::new();
    for v in &data.variants {
        let fields: Vec<&syn::Field> = match &v.fields {
            Fields::Unnamed(f) => f.unnamed.iter().collect(),
            Fields::Named(f) => f.named.iter().collect(),
            Fields::Unit => Vec::new(),
        };
        let [field] = fields[..] else {
            return Err(syn::Error::new(
                v.ident.span(),
                "each variant of a #[derive(Module)] enum holds exactly one module",
            ));
        };
        let pattern = match &field.ident {
            Some(id) => quote!({ #id: m }),
            None => quote!((m)),
        };
        variants.push((v.ident.clone(), pattern, field.ty.clone()));
    }
    if variants.is_empty() {
        return Err(syn::Error::new(
            input.ident.span(),
            "a #[derive(Module)] enum needs at least one variant",
        ));
    }
    let element: Type = match (&attrs.element, element_param(&input.generics)) {
        (Some(t), _) => t.clone(),
        (None, Some(p)) => parse_quote!(#p),
        (None, None) => variants
            .iter()
            .find_map(|(_, _, ty)| float_in(ty))
            .ok_or_else(|| {
                syn::Error::new(
                    input.ident.span(),
                    "cannot tell the element type: add a type parameter bounded by \
                     `Element` or #[module(element = f32)]",
                )
            })?,
    };
    let other_params: Vec<Ident> = input
        .generics
        .type_params()
        .map(|t| t.ident.clone())
        .filter(|p| element_param(&input.generics).as_ref() != Some(p))
        .collect();
    let mut generics = input.generics.clone();
    {
        let where_clause = generics.make_where_clause();
        for (_, _, ty) in &variants {
            if mentions(ty, &other_params) {
                where_clause
                    .predicates
                    .push(parse_quote!(#ty: #krate::Module<#element>));
            }
        }
    }
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let ident = &input.ident;
    let arms = |call: TokenStream2| {
        let arms = variants.iter().map(|(v, pat, ty)| {
            quote_spanned!(ty.span()=> #ident::#v #pat => #krate::Module::<#element>::#call,)
        });
        quote!(match self { #(#arms)* })
    };
    let type_name = match &attrs.name {
        Some(name) => quote!(#name),
        None => arms(quote!(type_name(m))),
    };
    let params = arms(quote!(visit_local_parameters(m, f)));
    let buffers = arms(quote!(visit_local_buffers(m, f)));
    let children = arms(quote!(visit_children(m, f)));
    let flag = arms(quote!(train_flag(m)));
    let inner = {
        let arms = variants.iter().map(|(v, pat, ty)| {
            quote_spanned!(ty.span()=> #ident::#v #pat => ::core::option::Option::Some(m as &dyn #krate::Module<#element>),)
        });
        quote!(match self { #(#arms)* })
    };
    let rngs = arms(quote!(visit_local_rngs(m, f)));
    let macs = match &attrs.macs {
        Some(path) => quote!(#path(self, input_shape, output_shape)),
        None => arms(quote!(macs(m, input_shape, output_shape))),
    };
    let d = quote!(#krate::__derive);
    Ok(quote! {
        #[automatically_derived]
        impl #impl_generics #krate::Module<#element> for #ident #ty_generics #where_clause {
            fn type_name(&self) -> &'static str { #type_name }
            fn visit_local_parameters(&self, f: &mut dyn FnMut(&str, &#d::Parameter<#element>)) {
                #params
            }
            fn visit_local_buffers(&self, f: &mut dyn FnMut(&str, &#krate::Buffer<#element>)) {
                #buffers
            }
            fn visit_children(&self, f: &mut dyn FnMut(&str, &dyn #krate::Module<#element>)) {
                #children
            }
            fn train_flag(&self) -> ::core::option::Option<&#krate::TrainFlag> { #flag }
            fn transparent_inner(&self) -> ::core::option::Option<&dyn #krate::Module<#element>> {
                #inner
            }
            fn visit_local_rngs(&self, f: &mut dyn FnMut(&str, &#krate::LayerRng)) {
                #rngs
            }
            fn macs(&self, input_shape: &[usize], output_shape: &[usize]) -> ::core::option::Option<u64> {
                #macs
            }
        }
    })
}
